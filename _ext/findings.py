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
LABELS = ("holds", "holds only in a regime", "does not hold", "cannot fail here",
          "not testable at this size")
COLUMNS = (("claim", 30), ("paper", 10), ("measured (95% interval)", 30), ("verdict", 10),
           ("regime", 15), ("where", 5))


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
        ref = addnodes.pending_xref("", refdomain="std", reftype="ref", reftarget=anchor.lower(),
                                    refexplicit=True, refwarn=True)
    else:
        ref = addnodes.pending_xref("", refdomain="std", reftype="doc",
                                    reftarget=f"/chapters/{chapter}", refexplicit=True,
                                    refwarn=True)
    ref += nodes.inline("", chapter.split("_", 1)[-1].replace("_", " "))
    return ref


class Findings(Directive):
    """``{findings}``: the counts per label and the table of every verdict in the book."""
    has_content = False

    def run(self):
        env = self.state.document.settings.env
        folder = Path(env.srcdir) / "results" / "verdicts"
        files = sorted(folder.glob("*.json"))
        for path in files:
            env.note_dependency(str(path))
        rows = load_verdicts(folder)
        counts = {k: sum(r["label"] == k for _, r in rows) for k in LABELS}
        summary = nodes.paragraph()
        summary += nodes.strong("", f"{len(rows)} verdicts from {len(files)} chapters: ")
        summary += nodes.Text("; ".join(f"{n} {k}" for k, n in counts.items()) + ".")
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
            row += [_entry(nodes.Text(r["claim"])), _entry(nodes.Text(r["ref"])),
                    _entry(nodes.Text(r["measured"])), _entry(nodes.strong("", r["label"])),
                    _entry(nodes.Text(r["regime"])), _entry(_link(chapter, r["anchor"]))]
            body += row
        group += [head, body]
        return [summary, table]


def setup(app):
    app.add_directive("findings", Findings)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
