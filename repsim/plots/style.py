"""Look and output of repsim's figures and tables: rcParams, palette, names, saving, markup.

The style is applied with :func:`plot_style` (a ``matplotlib.rc_context``) around figure
creation, so importing repsim never changes a notebook's global matplotlib settings. Figures are
built on ``matplotlib.figure.Figure`` directly (no pyplot), which needs no display and keeps no
global registry of open figures; they are rendered with the Agg/PDF backends when saved.
Tables and captions in the report are rendered here too (markdown, and escaped HTML), so the
report module only decides what goes where.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import matplotlib

from repsim._io import atomic_write_bytes, atomic_write_text

__all__ = [
    "ALGORITHM_COLORS",
    "CYCLE",
    "DISTANCES",
    "DISTANCE_FAMILY",
    "HTML_PAGE",
    "MEASURE_COLORS",
    "MEASURE_FAMILIES",
    "MEASURE_NAMES",
    "Block",
    "algorithm_label",
    "block_html",
    "caption_path",
    "frozen_label",
    "html_table",
    "inline_html",
    "layer_order",
    "markdown_table",
    "measure_label",
    "plot_style",
    "render_html",
    "render_markdown",
    "save_figure",
    "short_names",
    "styled",
]

F = TypeVar("F", bound=Callable[..., Any])

# Okabe-Ito: distinguishable with the common colour-vision deficiencies and in greyscale print.
_OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
              "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00",
              "purple": "#CC79A7"}
ALGORITHM_COLORS = {"maml": _OKABE_ITO["blue"], "anil": _OKABE_ITO["vermillion"],
                    "nil": _OKABE_ITO["green"], "fomaml": _OKABE_ITO["purple"]}
MEASURE_COLORS = {"cca": _OKABE_ITO["blue"], "svcca": _OKABE_ITO["sky"],
                  "pwcca": _OKABE_ITO["green"], "r2cca": _OKABE_ITO["purple"],
                  "cka": _OKABE_ITO["vermillion"], "cka_debiased": _OKABE_ITO["orange"],
                  "cka_rbf": _OKABE_ITO["purple"], "procrustes": "#7f7f7f"}
CYCLE = [_OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "purple", "sky",
                                 "black", "yellow")]

MEASURE_NAMES = {"cca": "mean CCA", "svcca": "SVCCA", "pwcca": "PWCCA",
                 "r2cca": "mean squared CCA", "cka": "linear CKA", "cka_debiased": "debiased CKA",
                 "cka_rbf": "RBF CKA", "procrustes": "Procrustes distance"}
#: Panels of the per-layer figures: family -> its measures, in legend order.
MEASURE_FAMILIES = {"CCA family": ("cca", "svcca", "pwcca", "r2cca"),
                    "CKA family": ("cka", "cka_debiased", "cka_rbf"),
                    "distance": ("procrustes",), "other": ()}
#: Measures that are distances (0 = identical), with their largest possible value.
DISTANCES = {"procrustes": 2.0}
DISTANCE_FAMILY = "distance"

_RC: dict[str, Any] = {
    "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "legend.fontsize": 8,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "figure.titlesize": 10.5,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "axes.axisbelow": True, "grid.linewidth": 0.5, "grid.alpha": 0.35,
    "lines.linewidth": 1.5, "lines.markersize": 5, "errorbar.capsize": 2.5,
    "legend.frameon": False, "figure.dpi": 100, "savefig.dpi": 200,
    "pdf.fonttype": 42, "ps.fonttype": 42,  # embed TrueType: editable text in the PDF
    "axes.prop_cycle": matplotlib.cycler(color=CYCLE), "image.cmap": "viridis",
}


@contextmanager
def plot_style() -> Iterator[None]:
    """Apply repsim's rcParams for the duration of a ``with`` block."""
    with matplotlib.rc_context(_RC):
        yield


def styled(func: F) -> F:
    """Decorator: build the figure inside :func:`plot_style`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with plot_style():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def measure_label(measure: str) -> str:
    """Display name of a similarity measure (``"cka_debiased"`` → ``"debiased CKA"``)."""
    return MEASURE_NAMES.get(str(measure), str(measure))


def algorithm_label(algorithm: str) -> str:
    """Display name of a training algorithm (``"fomaml"`` → ``"FOMAML"``)."""
    return str(algorithm).upper()


def layer_order(layers: Iterable[str]) -> list[str]:
    """Layers in network order: ``conv1 … convN``, ``fc1 … fcN``, then ``head``, then others."""

    def key(name: str) -> tuple[int, int, str]:
        match = re.fullmatch(r"(conv|fc)(\d+)", name)
        if match:
            return (0 if match.group(1) == "conv" else 1, int(match.group(2)), name)
        return (2, 0, name) if name == "head" else (3, 0, name)

    return sorted({str(layer) for layer in layers}, key=key)


def frozen_label(frozen: Sequence[str]) -> str:
    """Display name of a frozen-layer set.

    ``()`` → ``"none"``; ``("conv1", "conv2", "conv3")`` → ``"conv1–3"`` (``fc`` likewise);
    anything else joined by ``+``.
    """
    layers = layer_order(frozen)
    if not layers:
        return "none"
    nums = [re.fullmatch(r"(conv|fc)(\d+)", name) for name in layers]
    if len(layers) > 1 and all(nums) and len({m.group(1) for m in nums if m}) == 1:
        idx = [int(m.group(2)) for m in nums if m]
        if idx == list(range(idx[0], idx[0] + len(idx))):
            return f"{nums[0].group(1)}{idx[0]}–{idx[-1]}"  # type: ignore[union-attr]
    return "+".join(layers)


def short_names(names: Iterable[str]) -> dict[str, str]:
    """Model (checkpoint) paths → the shortest distinct labels: common folders/files dropped.

    ``{"/r/runs/maml/final.pt", "/r/runs/anil/final.pt"}`` → ``maml``, ``anil``. Names that do
    not shorten to distinct labels are kept whole.
    """
    names = sorted({str(n) for n in names})
    parts = [PurePosixPath(n.replace("\\", "/")).parts for n in names]
    lead = trail = 0
    if len(names) > 1:
        while all(len(p) > lead + 1 for p in parts) and len({p[lead] for p in parts}) == 1:
            lead += 1
        while all(len(p) > lead + trail + 1 for p in parts) and len(
                {p[-1 - trail] for p in parts}) == 1:
            trail += 1
    short = {n: "/".join(p[lead:len(p) - trail]).removesuffix(".pt") or n
             for n, p in zip(names, parts, strict=True)}
    return short if len(set(short.values())) == len(short) else {n: n for n in names}


def caption_path(stem: str | Path) -> Path:
    """Where the caption of the figure saved at ``stem`` lives: ``<stem>.caption.md``."""
    stem = Path(stem)
    return stem.with_name(stem.name + ".caption.md")


def save_figure(fig: Any, stem: str | Path, *, caption: str | None = None) -> list[Path]:
    """Save ``fig`` as ``<stem>.png`` and ``<stem>.pdf`` (atomically), and its caption.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to save; it is not closed or modified.
    stem : str or Path
        Output path without suffix, e.g. ``figures/freezing``. Parent folders are created.
    caption : str, optional
        Markdown caption (what the figure shows, which file/rows/manifest made it), written to
        ``<stem>.caption.md``.

    Returns
    -------
    list of Path
        ``[png, pdf]``.

    Notes
    -----
    ``bbox_inches="tight"`` grows the canvas to hold every label and legend, so nothing is
    clipped. Timestamps and the software tag are left out of the files, so the same data gives
    the same bytes (diff-friendly in a repository).
    """
    stem = Path(stem)
    paths = []
    metadata = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Creator": None,
                                                   "Producer": None}}
    for fmt in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=200, bbox_inches="tight", pad_inches=0.05,
                    facecolor="white", metadata=metadata[fmt])
        paths.append(atomic_write_bytes(stem.with_name(f"{stem.name}.{fmt}"), buf.getvalue()))
    if caption is not None:
        atomic_write_text(caption_path(stem), caption.rstrip() + "\n")
    return paths


# --- tables and text in the report: markdown and (self-contained) HTML --------------------------

def _cell(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and value != value) else str(value)


def markdown_table(frame: Any) -> str:
    """A DataFrame as a GitHub-flavoured markdown table (cells as strings, ``|`` escaped)."""
    cols = [str(c) for c in frame.columns]
    rows = [[_cell(v).replace("|", "\\|").replace("\n", " ") for v in rec]
            for rec in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def html_table(frame: Any) -> str:
    """A DataFrame as an HTML ``<table>`` (every cell escaped)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in rec) + "</tr>"
                   for rec in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def inline_html(text: str) -> str:
    """The inline markdown repsim writes (``code``, **bold**, *italic*, [link](url)) as HTML."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![*\w])\*([^*\s][^*]*)\*(?!\*)", r"<em>\1</em>", out)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', out)


def block_html(text: str) -> str:
    """Paragraphs and ``- `` bullet lists of repsim's markdown (captions, notes) as HTML."""
    parts: list[str] = []
    for para in text.strip().split("\n\n"):
        lines = para.splitlines()
        bullets = [ln[2:] for ln in lines if ln.startswith("- ")]
        prose = [ln for ln in lines if not ln.startswith("- ")]
        if prose:
            parts.append(f"<p>{inline_html(' '.join(prose))}</p>")
        if bullets:
            items = "".join(f"<li>{inline_html(b)}</li>" for b in bullets)
            parts.append(f"<ul>{items}</ul>")
    return "\n".join(parts)


#: A report is a list of blocks: ("h1" | "h2" | "p" | "note", markdown text), ("table",
#: DataFrame) or ("figure", {"number", "title", "stem", "png_path", "pdf_path", "caption_text"}).
Block = tuple[str, Any]


def render_markdown(blocks: list[Block], out_dir: Path) -> str:
    """The report's blocks as markdown; figures linked by path relative to ``out_dir``."""
    parts = []
    for kind, value in blocks:
        if kind in ("h1", "h2"):
            parts.append(("# " if kind == "h1" else "## ") + value)
        elif kind == "p":
            parts.append(value)
        elif kind == "note":
            parts.append(f"> **Note.** {value}")
        elif kind == "table":
            parts.append(markdown_table(value))
        else:
            png = Path(os.path.relpath(value["png_path"], out_dir)).as_posix()
            pdf = Path(os.path.relpath(value["pdf_path"], out_dir)).as_posix()
            parts.append(f"![Figure {value['number']}: {value['title']}]({png})\n\n"
                         f"*Figure {value['number']}.* {value['caption_text'].strip()}\n\n"
                         f"[PDF]({pdf})")
    return "\n\n".join(parts) + "\n"


def render_html(blocks: list[Block]) -> str:
    """The report's blocks as one self-contained HTML page (PNGs embedded as data URIs)."""
    parts = []
    for kind, value in blocks:
        if kind in ("h1", "h2"):
            parts.append(f"<{kind}>{inline_html(value)}</{kind}>")
        elif kind == "p":
            parts.append(block_html(value))
        elif kind == "note":
            parts.append(f'<div class="note">{block_html("**Note.** " + value)}</div>')
        elif kind == "table":
            parts.append(html_table(value))
        else:
            data = base64.b64encode(value["png_path"].read_bytes()).decode("ascii")
            alt = html.escape(f"Figure {value['number']}: {value['title']}")
            caption = block_html(f"*Figure {value['number']}.* {value['caption_text']}")
            # one scale for all (200 dpi PNG → 120 CSS px per figure inch), so every
            # figure's text comes out the same size; max-width shrinks it on narrow screens
            width = int.from_bytes(value["png_path"].read_bytes()[16:20], "big") * 3 // 5
            parts.append(f'<figure id="{value["stem"]}"><img alt="{alt}" width="{width}" '
                         f'src="data:image/png;base64,{data}">'
                         f"<figcaption>{caption}</figcaption></figure>")
    return HTML_PAGE.format(title="repsim report", body="\n".join(parts))



HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; line-height: 1.45;
       color: #1d1d1f; max-width: 1100px; margin: 2em auto; padding: 0 1.5em; }}
h1 {{ font-size: 1.7em; border-bottom: 2px solid #0072B2; padding-bottom: .2em; }}
h2 {{ font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .15em; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: .9em; }}
th, td {{ border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }}
th {{ background: #f2f5f8; }} tr:nth-child(even) td {{ background: #fafafa; }}
figure {{ margin: 1.2em 0 2em; }} figure img {{ max-width: 100%; height: auto;
       border: 1px solid #eee; }}
figcaption {{ font-size: .88em; color: #333; }} figcaption p {{ margin: .3em 0; }}
code {{ background: #f2f2f2; padding: 0 .25em; border-radius: 3px; font-size: .92em; }}
.note {{ background: #fff8e6; border-left: 4px solid #E69F00; padding: .4em .8em; }}
</style></head>
<body>
{body}
</body></html>
"""
