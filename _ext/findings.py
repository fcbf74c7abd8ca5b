"""Sphinx extension: the findings page, built from the chapters' verdict files.

Each chapter's verdict table also writes its rows to ``results/verdicts/<chapter>.json`` as it
executes (``imbacl.report.verdict_table(rows, save=...)``). The ``findings`` directive reads
every such file and renders one table of all verdicts (claim, paper's reference, measurement,
label, regime, a link to the chapter section), preceded by the counts per label. The files are
declared dependencies of the page, so an incremental build redraws it when a chapter writes new
verdicts. Nothing here is typed by hand: a stale page is a stale file, which
tests/test_findings.py catches.
"""

import json
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx import addnodes

# The book's five labels, in the order the counts are printed (imbacl.report.LABELS).
LABELS = (
    "holds",
    "holds only in a regime",
    "does not hold",
    "cannot fail here",
    "not testable at this size",
)
COLUMNS = (
    ("claim", 30),
    ("paper", 10),
    ("measured (95% interval)", 30),
    ("verdict", 10),
    ("regime", 15),
    ("where", 5),
)


def load_verdicts(folder: Path) -> list:
    """(chapter, row) for every row of every verdict file, chapters in file-name order."""
    out = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        out += [(data["chapter"], row) for row in data["rows"]]
    return out


def _entry(*children):
    entry = nodes.entry()
    entry += nodes.paragraph("", "", *children)
    return entry


def _link(chapter: str, anchor: str):
    """A cross-reference to the row's section (its label) or, without one, to its chapter."""
    if anchor:
        ref = addnodes.pending_xref(
            "",
            refdomain="std",
            reftype="ref",
            reftarget=anchor.lower(),
            refexplicit=True,
            refwarn=True,
        )
    else:
        ref = addnodes.pending_xref(
            "",
            refdomain="std",
            reftype="doc",
            reftarget=f"/chapters/{chapter}",
            refexplicit=True,
            refwarn=True,
        )
    ref += nodes.inline("", chapter.split("_", 1)[-1].replace("_", " "))
    return ref


def headline(rows: list, spec: list) -> list:
    """(claim, chapter, row) for every line ``claim | chapter | start of a row's claim`` of the
    directive's content: the verdict row that answers each of the paper's claims. A line that
    matches no row, or more than one, is an error (the build fails, naming it)."""
    out = []
    for line in spec:
        if not line.strip():
            continue
        parts = [x.strip() for x in line.split("|")]
        if len(parts) != 3:
            raise ValueError(
                f"findings headline line {line!r}: must be 'claim | chapter | "
                "start of the row's claim'"
            )
        title, chapter, start = parts
        hits = [r for c, r in rows if c == chapter and r["claim"].startswith(start)]
        if len(hits) != 1:
            raise ValueError(
                f"findings headline {title!r}: {len(hits)} rows of {chapter} "
                f"start with {start!r} (must be exactly one)"
            )
        out.append((title, chapter, hits[0]))
    return out


def figure_html(rows: list) -> str:
    """The verdicts at a glance: one line per chapter, one coloured cell per row (its claim and
    label in the cell's title), and a legend. Plain HTML and CSS (_ext/static/imbacl.css)."""
    import html

    lines, chapters = [], []
    for chapter, _ in rows:
        if chapter not in chapters:
            chapters.append(chapter)
    for chapter in chapters:
        cells = "".join(
            f'<span class="verdict-cell verdict-{r["label"].replace(" ", "-")}" '
            f'title="{html.escape(r["claim"] + " -> " + r["label"], quote=True)}"></span>'
            for c, r in rows
            if c == chapter
        )
        name = html.escape(chapter.split("_", 1)[-1].replace("_", " "))
        lines.append(
            f'<div class="findings-line"><span class="findings-chapter">{name}</span>{cells}</div>'
        )
    legend = "".join(
        f'<span class="verdict-cell verdict-{k.replace(" ", "-")}"></span> {k} ' for k in LABELS
    )
    return (
        f'<div class="findings-figure">{"".join(lines)}'
        f'<div class="findings-legend">{legend}</div></div>'
    )


def tally(rows: list) -> str:
    """The counts: the tests by label, then the rows that cannot fail (not tests)."""
    counts = {k: sum(r["label"] == k for _, r in rows) for k in LABELS}
    tests = len(rows) - counts["cannot fail here"]
    parts = "; ".join(f"{counts[k]} {k}" for k in LABELS if k != "cannot fail here")
    return (
        f"{tests} tests ({parts}), and {counts['cannot fail here']} rows that cannot fail "
        "here (true by construction or a bound with a free constant: not tests)."
    )


class Findings(Directive):
    """``{findings}``: the paper's claims with their labels (the directive's content, one
    ``claim | chapter | start of the row's claim`` per line), the verdicts at a glance, the
    counts per label and the table of every verdict in the book."""

    has_content = True

    def run(self):
        env = self.state.document.settings.env
        folder = Path(env.srcdir) / "results" / "verdicts"
        files = sorted(folder.glob("*.json"))
        for path in files:
            env.note_dependency(str(path))
        rows = load_verdicts(folder)
        out = []
        claims = headline(rows, list(self.content))
        if claims:
            items = nodes.bullet_list(classes=["findings-headline"])
            for title, chapter, r in claims:
                para = nodes.paragraph()
                para += nodes.strong("", title + ": ")
                para += nodes.inline(
                    "", r["label"], classes=["verdict-" + r["label"].replace(" ", "-")]
                )
                para += nodes.Text(f" ({r['regime']}; ")
                para += _link(chapter, r["anchor"])
                para += nodes.Text(")")
                item = nodes.list_item()
                item += para
                items += item
            out.append(items)
        out.append(nodes.raw("", figure_html(rows), format="html"))
        summary = nodes.paragraph()
        summary += nodes.strong("", f"{len(rows)} verdicts from {len(files)} chapters: ")
        summary += nodes.Text(tally(rows))
        summary["classes"].append("findings-counts")

        table = nodes.table(classes=["findings-table"])
        group = nodes.tgroup(cols=len(COLUMNS))
        table += group
        group += [nodes.colspec(colwidth=w) for _, w in COLUMNS]
        head, body = nodes.thead(), nodes.tbody()
        row = nodes.row()
        row += [_entry(nodes.Text(name)) for name, _ in COLUMNS]
        head += row
        for chapter, r in rows:
            row = nodes.row(classes=["verdict-" + r["label"].replace(" ", "-")])
            row += [
                _entry(nodes.Text(r["claim"])),
                _entry(nodes.Text(r["ref"])),
                _entry(nodes.Text(r["measured"])),
                _entry(nodes.strong("", r["label"])),
                _entry(nodes.Text(r["regime"])),
                _entry(_link(chapter, r["anchor"])),
            ]
            body += row
        group += [head, body]
        return out + [summary, table]


def setup(app):
    app.add_directive("findings", Findings)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
