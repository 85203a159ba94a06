"""The self-contained HTML page: inline CSS, plots as base64 data URIs, no external assets."""

from __future__ import annotations

from html import escape

from etl.figures import PAGE_CSS, png_data_uri
from monitoring.aggregate import LowConfidence
from monitoring.summary import CHANNELS, QUALITY_LABELS, class_name

FIGURES = (
    (
        "confidence_over_time",
        "Confidence of every request (a uniform sample when there are "
        "many), the median and 10-90% band per time bucket, and requests per bucket below.",
    ),
    (
        "confidence_histogram",
        "All requests, binned by confidence; red bins fall below the threshold.",
    ),
    ("class_mix", "Predicted classes per time bucket, as counts and as shares."),
    (
        "drift",
        "Mean of each channel and of brightness (luma) of the captured images, as a "
        "shift in units of the training set's per-pixel standard deviation; the band is the "
        "drift limit.",
    ),
)

CSS = (
    PAGE_CSS
    + """
.banner{border-radius:8px;padding:12px 16px;margin:16px 0;font-weight:600}
.banner ul{margin:6px 0 0;font-weight:400}
.banner.ok{background:#f0fff4;border:1px solid #9ae6b4;color:var(--ok)}
.banner.flagged{background:#fff5f5;border:1px solid #feb2b2;color:var(--bad)}
.banner.no_data,.banner.no_capture{background:#fffff0;border:1px solid #f6e05e;color:var(--warn)}
figure img{width:100%} /* plots are drawn for this width */
tr.nonzero td{color:var(--bad)}
.strip{display:grid;grid-template-columns:repeat(auto-fill,minmax(128px,1fr));gap:12px}
.strip div{text-align:center;font-size:12px}
.strip img{width:96px;height:96px;object-fit:contain;image-rendering:pixelated;border-radius:4px;
border:1px solid var(--line)}
.strip .c{font-weight:700;color:var(--bad)}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px}
@media (max-width:800px){.grid2{grid-template-columns:1fr}}
"""
)


def _fmt(value: float | None, spec: str, missing: str = "n/a") -> str:
    return missing if value is None else format(value, spec)


def _banner(summary: dict, context: dict) -> str:
    status = summary["status"]
    if status == "no_capture":
        checks = "".join(f"<li>{escape(c)}</li>" for c in context["no_capture_checks"])
        return (
            f'<div class="banner no_capture">No captured data at '
            f"<code>{escape(context['location'])}</code>. Check:<ul>{checks}</ul></div>"
        )
    if status == "no_data":
        return (
            '<div class="banner no_data">Capture objects exist, but no valid request falls '
            "in this window. See the data-quality table for lines that could not be used.</div>"
        )
    if status == "flagged":
        items = "".join(f"<li>{escape(f['message'])}</li>" for f in summary["flags"])
        return f'<div class="banner flagged">Needs attention<ul>{items}</ul></div>'
    return '<div class="banner ok">No flags: confidence and inputs are within their limits.</div>'


def _cards(summary: dict) -> str:
    conf = summary["confidence"]
    drift = summary["drift"]
    flagged = {f["name"] for f in summary["flags"]}
    shift = drift.get("max_abs_shift")
    cards = [
        ("requests", f"{summary['records']:,}", False),
        ("mean confidence", _fmt(conf["mean"], ".3f"), False),
        (
            f"below {conf['threshold']:g}",
            _fmt(conf["below_threshold_share"], ".1%"),
            "low_confidence_share" in flagged,
        ),
        ("max drift (std)", _fmt(shift, ".2f"), "input_drift" in flagged),
        ("images measured", f"{drift['images']:,}", False),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card{" bad" if bad else ""}"><div class="v">{escape(v)}</div>'
            f'<div class="k">{escape(k)}</div></div>'
            for k, v, bad in cards
        )
        + "</div>"
    )


def _class_table(summary: dict) -> str:
    rows = (
        "".join(
            f"<tr><td>{escape(c['name'])}</td><td class=n>{c['count']:,}</td>"
            f"<td class=n>{c['share']:.1%}</td></tr>"
            for c in summary["classes"]
        )
        or "<tr><td colspan=3>no requests</td></tr>"
    )
    return (
        "<table><tr><th>predicted class</th><th class=n>requests</th><th class=n>share</th></tr>"
        f"{rows}</table>"
    )


def _drift_table(summary: dict) -> str:
    drift = summary["drift"]
    ref, cap, shift = drift.get("reference"), drift.get("captured"), drift.get("shift_std")
    note = f"<p>{escape(drift['note'])}</p>" if drift.get("note") else ""
    if not cap:
        return note
    ref_mean = (ref["channel_mean"] + [ref["brightness_mean"]]) if ref else [None] * 4
    ref_std = (ref["channel_std"] + [ref["brightness_std"]]) if ref else [None] * 4
    cap_mean = cap["channel_mean"] + [cap["brightness_mean"]]
    rows = ""
    for i, channel in enumerate(CHANNELS):
        s = shift[channel] if shift else None
        bad = s is not None and abs(s) > summary["limits"]["drift_limit"]
        rows += (
            f'<tr class="{"nonzero" if bad else ""}"><td>{channel}</td>'
            f"<td class=n>{_fmt(ref_mean[i], '.4f')} ± {_fmt(ref_std[i], '.4f')}</td>"
            f"<td class=n>{cap_mean[i]:.4f}</td><td class=n>{_fmt(s, '+.3f')}</td></tr>"
        )
    source = (
        f"<p>Pixel values on a 0-1 scale. Reference: <code>{escape(ref['source'])}</code></p>"
        if ref
        else ""
    )
    return (
        "<table><tr><th>mean of</th><th class=n>training (± std)</th>"
        "<th class=n>captured</th><th class=n>shift (std)</th></tr>"
        f"{rows}</table>{source}{note}"
    )


def _quality_table(summary: dict) -> str:
    q = summary["quality"]
    head = (
        f"<p>{q['objects']:,} objects read, {q['lines']:,} lines, "
        f"{q['valid_records']:,} valid records in the window.</p>"
    )
    rows = ""
    for kind, label in QUALITY_LABELS.items():
        bad = q[kind] and kind != "outside_window"
        examples = ", ".join(q["examples"].get(kind, []))
        code = f"<code>{escape(examples)}</code>" if examples else ""
        rows += (
            f'<tr class="{"nonzero" if bad else ""}"><td>{escape(label)}</td>'
            f"<td class=n>{q[kind]:,}</td><td>{code}</td></tr>"
        )
    return (
        head + "<table><tr><th>problem</th><th class=n>count</th><th>first examples "
        "(object:line)</th></tr>" + rows + "</table>"
    )


def _strip(entries: list[LowConfidence], class_names: tuple[str, ...]) -> str:
    if not entries:
        return "<p>No images to show.</p>"
    cells = ""
    for e in entries:
        image = (
            f'<img alt="captured input" src="{png_data_uri(e.thumbnail)}">'
            if e.thumbnail
            else "<p>(no image)</p>"
        )
        cells += (
            f"<div>{image}<br><span class=c>{e.confidence:.3f}</span> "
            f"{escape(class_name(e.predicted_index, class_names))}<br>"
            f"{e.inference_time:%Y-%m-%d %H:%M:%S}<br>"
            f'<code title="{escape(e.event_id)} in {escape(e.object_key)}">'
            f"{escape(e.event_id[:8])}</code></div>"
        )
    return f'<div class="strip">{cells}</div>'


def render_page(
    summary: dict,
    plots: dict[str, bytes],
    lowest: list[LowConfidence],
    class_names: tuple[str, ...],
    context: dict,
) -> str:
    """The whole page as one string. `context`: endpoint, location, generated, command,
    no_capture_checks."""
    window = summary["window"]
    span = (
        f"requests from {window['first']} to {window['last']} (UTC)"
        if window["first"]
        else "no requests"
    )
    asked = (
        f"{window['since'] or 'the beginning'} to {window['until'] or 'now'}"
        if window["since"] or window["until"]
        else "all captured data"
    )
    figures = "".join(
        f'<section><figure><img alt="{name}" src="{png_data_uri(plots[name])}">'
        f"<figcaption>{escape(caption)}</figcaption></figure></section>"
        for name, caption in FIGURES
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Monitoring: {escape(context["endpoint"])}</title><style>{CSS}</style></head>
<body><main>
<header><h1>Endpoint monitoring: {escape(context["endpoint"])}</h1>
<p>Captured data at <code>{escape(context["location"])}</code></p>
<p>Window: {escape(asked)}; {escape(span)}.
Generated {escape(context["generated"])}.</p></header>
{_banner(summary, context)}
{_cards(summary)}
<div class="grid2"><section><h2>Predicted classes</h2>{_class_table(summary)}</section>
<section><h2>Input drift</h2>{_drift_table(summary)}</section></div>
{figures}
<section><h2>Lowest-confidence inputs</h2>
<p>What the model struggles with: the {len(lowest)} least confident requests.</p>
{_strip(lowest, class_names)}</section>
<section><h2>Data quality</h2>{_quality_table(summary)}</section>
<p style="color:#718096;font-size:12px">Made by <code>{escape(context["command"])}</code></p>
</main></body></html>
"""
