"""macs.select.console: collaborative weights, aggregation, repetition decay and budgeted selection (pure numpy)."""

from macs.select.console.budget import BudgetResult, budget_select, doc_hash
from macs.select.console.console import MODES, Console
from macs.select.console.state import load_state, save_state

__all__ = [
    "MODES",
    "BudgetResult",
    "Console",
    "budget_select",
    "doc_hash",
    "load_state",
    "save_state",
]
