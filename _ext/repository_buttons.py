"""Sphinx extension: the Binder and repository buttons, only where the book's repository is known.

The repository is one setting, the environment variable ``IMBACL_REPOSITORY_URL`` at build time
(e.g. ``IMBACL_REPOSITORY_URL=https://github.com/you/imbacl bash scripts/book.sh``); _config.yml
names no repository. Set, it becomes sphinx-book-theme's ``repository_url``, the repository
button is switched on and the launch buttons of ``launch_buttons`` in _config.yml (Binder) are
kept. Unset or empty, the book has no repository, launch or edit button at all: a button that
leads nowhere is worse than none. tests/test_launch.py builds a small book both ways.

The theme reads ``html_theme_options`` when the builder starts (``builder-inited``) and while
writing each page, so setting them on ``config-inited`` is early enough, and a build whose
setting changed rewrites every page (the options are part of the HTML build's config hash).
"""

import os
import re

from sphinx.errors import ExtensionError

ENV = "IMBACL_REPOSITORY_URL"
# every key with which sphinx-book-theme 1.3 shows a launch button (header_buttons/launch.py)
LAUNCH_KEYS = (
    "binderhub_url",
    "jupyterhub_url",
    "colab_url",
    "deepnote_url",
    "jupyterlite_url",
    "thebe",
)
REPOSITORY_BUTTONS = (
    "use_repository_button",
    "use_edit_page_button",
    "use_issues_button",
    "use_source_button",
)


def repository_url() -> str:
    """The book's repository from ``IMBACL_REPOSITORY_URL``, or '' where it is unset."""
    url = os.environ.get(ENV, "").strip().rstrip("/")
    if url and not re.fullmatch(r"https?://[^/\s]+/[^/\s]+/[^/\s]+", url):
        raise ExtensionError(
            f"{ENV}={url!r} is not a repository URL like https://github.com/<owner>/<repository>"
        )
    return url


def _apply(app, config):
    url = repository_url()
    opts = dict(config.html_theme_options or {})
    launch = dict(opts.get("launch_buttons") or {})
    if url:
        opts["repository_url"] = url
        opts["use_repository_button"] = True
    else:
        opts["repository_url"] = ""  # not jupyter-book's default (its own repository)
        opts.update(dict.fromkeys(REPOSITORY_BUTTONS, False))
        launch = {k: v for k, v in launch.items() if k not in LAUNCH_KEYS}
    opts["launch_buttons"] = launch
    config.html_theme_options = opts


def setup(app):
    app.connect("config-inited", _apply)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
