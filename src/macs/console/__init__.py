"""macs.console: collaborative weights, aggregation, repetition decay and budgeted selection (pure numpy)."""

from macs.console.budget import BudgetResult, budget_select, doc_hash
from macs.console.console import MODES, Console
from macs.console.state import load_state, save_state

__all__ = [
    "MODES",
    "BudgetResult",
    "Console",
    "budget_select",
    "doc_hash",
    "load_state",
    "save_state",
]
