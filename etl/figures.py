"""The look of the project's report figures (the EDA page, the monitoring report) and
how a figure becomes PNG bytes: one definition for both pages."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

DPI = 110
CLASS_COLORS = ("#3182ce", "#dd6b20", "#805ad5", "#38a169", "#d53f8c", "#718096")

# The pages' shared look (the EDA page, the monitoring report): each page adds its own
# rules after these.
PAGE_CSS = """
:root{--ink:#1a202c;--mute:#718096;--line:#e2e8f0;--ok:#2f855a;--bad:#c53030;--warn:#b7791f}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--ink);background:#f7fafc}
main{max-width:1120px;margin:0 auto;padding:24px}
header h1{margin:0;font-size:24px}
header p{margin:4px 0;color:var(--mute)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px;
margin:16px 0}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card .v{font-size:24px;font-weight:700}
.card .k{color:var(--mute);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card.bad .v{color:var(--bad)}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px;
margin:16px 0}
section h2{margin:0 0 8px;font-size:17px}
figure{margin:0}
figure img{max-width:100%;height:auto}
figcaption,.note{color:var(--mute);font-size:12px}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line)}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:12px;background:#edf2f7;padding:1px 4px;border-radius:3px}
"""


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


def png_data_uri(png: bytes) -> str:
    """PNG bytes as a data URI, so a page carries its images inline."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
