"""Sphinx extension: include every inline script of a page once.

Sphinx 7.4 adds a body-only script registered by an extension after the builder started (as
sphinx-thebe does with its `const THEBE_JS_URL = ...` line) a second time, so every page threw
"Identifier 'THEBE_JS_URL' has already been declared" (found by tests/test_browser.py).
"""


def _unique(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, keep = set(), []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        key = (getattr(js, "filename", js) or "", tuple(sorted(attrs.items())))
        if key not in seen:
            seen.add(key)
            keep.append(js)
    scripts[:] = keep


def setup(app):
    app.connect("html-page-context", _unique)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
