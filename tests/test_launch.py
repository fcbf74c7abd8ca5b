"""Launch buttons that lead somewhere, and a Binder image of what a reader needs.

The book's repository is one setting, IMBACL_REPOSITORY_URL at build time
(_ext/repository_buttons.py): a small book (intro.md and one committed chapter, not executed)
is built without it, where no page may show a Binder, launch or repository button, and with it,
where the chapter's Binder button and the repository button point at that repository.
"""

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, jupyter_book

ENV = "IMBACL_REPOSITORY_URL"
FORK = "https://github.com/example/fork"
CHAPTER = "chapters/01_data_model"
BINDER = f"https://mybinder.org/v2/gh/example/fork/main?urlpath=lab/tree/{CHAPTER}.ipynb"


def _small_book(folder: Path) -> Path:
    """intro.md and one chapter with the repository's _config.yml, execution off, in ``folder``."""
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    cfg["execute"]["execute_notebooks"] = "off"
    sphinx = cfg["sphinx"]["config"]  # _assets/ (fetched JavaScript) is not needed here
    sphinx["html_static_path"] = [p for p in sphinx["html_static_path"] if p != "_assets"]
    folder.mkdir(parents=True)
    (folder / "_config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (folder / "_toc.yml").write_text(
        yaml.safe_dump(
            {"format": "jb-book", "root": "intro", "chapters": [{"file": CHAPTER}]}, sort_keys=False
        )
    )
    for f in ("intro.md", "references.bib", f"{CHAPTER}.ipynb"):
        (folder / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, folder / f)
    shutil.copytree(ROOT / "_ext", folder / "_ext", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def _build(folder: Path, url: str | None) -> dict:
    """{page: html} of the small book built in ``folder`` with the setting ``url`` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if url is not None:
        env[ENV] = url
    p = subprocess.run(
        [jupyter_book(), "build", str(_small_book(folder)), "--keep-going"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    html = folder / "_build" / "html"
    assert p.returncode == 0 and (html / f"{CHAPTER}.html").exists(), (p.stdout + p.stderr)[-3000:]
    return {page: (html / f"{page}.html").read_text() for page in ("intro", CHAPTER)}


def _anchors(html: str) -> list:
    """(href, class) of every link of a page."""
    return [
        (m.group(1), m.group(2))
        for m in re.finditer(r'<a\s+href="([^"]*)"[^>]*?class="([^"]*)"', html, re.S)
    ]


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    if not jupyter_book():
        pytest.skip("jupyter-book is not installed (scripts/setup.sh installs it)")
    tmp = tmp_path_factory.mktemp("launch")
    return {"unset": _build(tmp / "unset", None), "set": _build(tmp / "set", FORK)}


def test_without_the_setting_no_page_has_a_launch_or_repository_button(books):
    for page, html in books["unset"].items():
        assert "mybinder.org" not in html and "dropdown-launch-buttons" not in html, page
        assert "btn-source-repository-button" not in html, page
        assert "executablebooks/jupyter-book" not in html, page  # jupyter-book's default URL
        assert not [a for a in _anchors(html) if "github.com" in a[0]], page


def test_with_the_setting_the_chapter_launches_on_binder_from_that_repository(books):
    html = books["set"][CHAPTER]
    assert "dropdown-launch-buttons" in html
    assert [h for h, _ in _anchors(html) if "mybinder.org" in h] == [BINDER]
    for page, html in books["set"].items():
        repo = [h for h, c in _anchors(html) if "btn-source-repository-button" in c]
        assert repo == [FORK], page


def test_the_config_names_no_repository_and_the_setting_is_checked(monkeypatch):
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "url" not in cfg.get("repository", {})  # the one setting is IMBACL_REPOSITORY_URL
    assert not cfg.get("html", {}).get("use_repository_button")
    assert cfg["sphinx"]["local_extensions"]["repository_buttons"] == "_ext/"
    spec = importlib.util.spec_from_file_location(
        "repository_buttons", ROOT / "_ext" / "repository_buttons.py"
    )
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    monkeypatch.setenv(ENV, f" {FORK}/ ")
    assert ext.repository_url() == FORK
    monkeypatch.setenv(ENV, "")
    assert ext.repository_url() == ""
    monkeypatch.setenv(ENV, "github.com/example")
    with pytest.raises(Exception, match=ENV):
        ext.repository_url()


# -- the Binder image ---------------------------------------------------------------------------
READER = {
    "torch",
    "numpy",
    "matplotlib",
    "tqdm",
    "jupyterlab",
    "ipywidgets",
    "ipykernel",
    "scikit-learn",
}
NOT_FOR_READERS = {
    "jupyter-book",
    "sphinx",
    "sphinx-book-theme",
    "sphinx-proof",
    "sphinxcontrib-bibtex",
    "jupyter-cache",
    "pytest",
    "nbval",
    "hypothesis",
    "jsonschema",
    "playwright",
    "dask",
    "distributed",
    "pyyaml",
}


def _requirements(path: Path) -> tuple[dict, list]:
    """({normalised name: pin line}, option lines) of a requirements file."""
    pins, options = {}, []
    for line in path.read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            options.append(line)
            continue
        name, sep, version = line.partition("==")
        assert sep and version, f"{path.name}: {line!r} is not an exact pin"
        pins[re.sub(r"[-_.]+", "-", name.strip().lower())] = version.strip()
    return pins, options


def test_binder_installs_what_a_reader_needs_with_the_main_pins():
    binder, binder_opts = _requirements(ROOT / ".binder" / "requirements.txt")
    main, main_opts = _requirements(ROOT / "requirements.txt")
    assert READER <= set(binder), READER - set(binder)
    assert not set(binder) & NOT_FOR_READERS, set(binder) & NOT_FOR_READERS
    for name, version in binder.items():
        assert main.get(name) == version, f"{name}=={version} vs requirements.txt {main.get(name)}"
    assert binder_opts == [o for o in main_opts if o.startswith("--extra-index-url")]
    assert any("download.pytorch.org/whl/cpu" in o for o in binder_opts)
    post = (ROOT / ".binder" / "postBuild").read_text()
    assert re.search(r"pip install .*-e \.", post)  # the package itself
