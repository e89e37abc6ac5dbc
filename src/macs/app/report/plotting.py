"""matplotlib's pyplot for the report's figures: the Agg backend (no display) and the house
style, shared by report.build, report.compare and report.efficiency."""

from __future__ import annotations


def pyplot():
    """matplotlib.pyplot with the Agg backend and the report's style set (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.grid": True, "grid.alpha": 0.3})
    return plt
