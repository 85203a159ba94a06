"""The look of the project's report figures (the EDA page, the monitoring report) and
how a figure becomes PNG bytes: one definition for both pages."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

DPI = 110
CLASS_COLORS = ("#3182ce", "#dd6b20", "#805ad5", "#38a169", "#d53f8c", "#718096")

plt.rcParams.update(
    {
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "font.size": 9,
        "axes.titlesize": 11,
        "axes.titleweight": "bold",
    }
)


def figure_png(fig) -> bytes:
    """The figure as PNG bytes, closed afterwards (pages inline them as base64)."""
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, facecolor="white")
    plt.close(fig)
    return out.getvalue()
