"""Every page of the built book in headless Chromium, served from 127.0.0.1 with no internet.

Per page: no failed request and none to anywhere but 127.0.0.1 (outside requests are blocked
and count as failures), no JavaScript error, every visible image has a non-zero natural width,
every math element was typeset by MathJax, and pages that hold saved widget state show the
explorer's controls (pages without it do not load the widget manager). One full-page screenshot
per page goes to _build/screenshots/ (plus one of the explorer on widget pages).

The book is the one tests/test_book.py builds into _build/ from the committed notebooks (built
here the same way if it is missing or older than its sources). IMBACL_BOOK_BUILD=<folder> points
at another build folder (the
``_build`` that ``jupyter-book build --path-output <parent>`` writes). Chromium is Debian's
(/usr/bin/chromium, or $CHROMIUM), driven by Playwright; scripts/test.sh installs it. Without a
browser the test is skipped, except in CI (CI=true), where it fails.
"""

import functools
import http.server
import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from conftest import ROOT, build_committed_book

BUILD = Path(os.environ.get("IMBACL_BOOK_BUILD", ROOT / "_build"))
HTML = BUILD / "html"
SHOTS = BUILD / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _toc_pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                pages.append(e["file"])
            walk(e.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return pages


PAGES = _toc_pages()


def _source(page):
    for ext in (".ipynb", ".md"):
        if (ROOT / f"{page}{ext}").exists():
            return ROOT / f"{page}{ext}"
    raise FileNotFoundError(page)


def _stale():
    """Why the build must be (re)made, or '' if it is up to date."""
    inputs = [ROOT / "_config.yml", ROOT / "_toc.yml", *map(_source, PAGES)]
    newest = max(p.stat().st_mtime for p in inputs)
    for page in PAGES:
        html = HTML / f"{page}.html"
        if not html.exists():
            return f"{html} is missing"
        if html.stat().st_mtime < newest:
            return f"{html} is older than its sources"
    return ""


def _fail_or_skip(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (scripts/test.sh installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site():
    """The built book served over http on a free port of 127.0.0.1."""
    why = _stale()
    if why:
        p = build_committed_book(BUILD.parent)  # as tests/test_book.py builds it
        assert p.returncode == 0, (
            f"building the book ({why}) failed:\n{(p.stdout + p.stderr)[-3000:]}"
        )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(HTML))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _fail_or_skip("playwright is not installed")
    if not Path(CHROMIUM).exists():
        _fail_or_skip(f"{CHROMIUM} is absent")
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh --user-data-dir
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield ctx
        finally:
            ctx.close()


def test_widget_pages_embed_their_state(site):
    """Pages with an explorer carry the saved widget state and a view of a model in it."""
    pages = [p for p in PAGES if WIDGET_STATE in (HTML / f"{p}.html").read_text()]
    assert "chapters/02_architecture" in pages
    for page in pages:
        text = (HTML / f"{page}.html").read_text()
        state = re.search(
            r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', text, re.S
        )
        views = re.findall(
            r'<script type="application/vnd.jupyter.widget-view\+json">(.*?)</script>', text, re.S
        )
        models = json.loads(state.group(1))["state"]
        assert views, page
        for v in views:
            assert json.loads(v)["model_id"] in models, page


MATH = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const math = [...document.querySelectorAll('.math')];
  return {n: math.length,
          typeset: math.filter(e => e.querySelector('mjx-container')).length,
          raw: math.filter(e => !e.querySelector('mjx-container'))
                   .map(e => e.textContent.slice(0, 60))};
}"""

IMAGES = """() => [...document.querySelectorAll('main img, article img')]
  .filter(i => i.getClientRects().length > 0)
  .map(i => ({src: i.getAttribute('src').slice(0, 90), w: i.naturalWidth,
              widget: !!i.closest('.jupyter-widgets')}))"""

WIDGETS = """() => ({
  sliders: document.querySelectorAll('.widget-slider').length,
  buttons: [...document.querySelectorAll('button.jupyter-button')].map(b => b.textContent.trim()),
  html: [...document.querySelectorAll('.widget-html-content')].map(e => e.textContent.trim()),
  errors: [...document.querySelectorAll('.jupyter-widgets')].filter(
    e => /Error displaying widget|model not found/i.test(e.textContent)).length,
  manager: !!document.querySelector('script[src*="embed-amd"]'),
  hint: [...document.querySelectorAll('.imbacl-static-hint')]
    .filter(e => e.getClientRects().length > 0).map(e => e.textContent.trim()),
  dimmed: [...document.querySelectorAll('.imbacl-live-only')]
    .filter(e => getComputedStyle(e).pointerEvents === 'none').length,
})"""


def _saved_sliders(page) -> int:
    """Slider models in the widget state saved in the page: each must render as a slider."""
    import json
    import re

    text = (HTML / f"{page}.html").read_text()
    m = re.search(
        r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', text, re.S
    )
    state = json.loads(m.group(1))["state"] if m else {}
    return sum(v["model_name"].endswith("SliderModel") for v in state.values())


def _local_tab(browser, outside: list):
    """A new tab whose requests to anywhere but 127.0.0.1 are blocked and listed in ``outside``."""

    def route(r):
        if urlparse(r.request.url).hostname == "127.0.0.1":
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    tab = browser.new_page()
    tab.route("**/*", route)
    return tab


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_offline(page, site, browser):
    html_text = (HTML / f"{page}.html").read_text()
    has_widgets = WIDGET_STATE in html_text
    problems, outside = [], []

    tab = _local_tab(browser, outside)
    tab.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    tab.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    tab.on("pageerror", lambda e: problems.append(f"JavaScript error: {e}"))
    try:
        tab.goto(f"{site}/{page}.html", wait_until="load")
        tab.wait_for_load_state("networkidle")
        if has_widgets:
            tab.wait_for_selector(".widget-slider", timeout=30_000)
        math = tab.evaluate(MATH)
        images = tab.evaluate(IMAGES)
        widgets = tab.evaluate(WIDGETS)
        tab.wait_for_load_state("networkidle")
        SHOTS.mkdir(parents=True, exist_ok=True)
        name = page.replace("/", "_")
        tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        if has_widgets:
            tab.locator(".jupyter-widgets.widget-vbox").first.screenshot(
                path=str(SHOTS / f"{name}_explorer.png")
            )
    finally:
        tab.close()

    assert not outside, f"requests outside 127.0.0.1: {outside}"
    assert not problems, "\n".join(problems)
    bad = [i for i in images if i["w"] == 0]
    assert not bad, f"images that did not load: {bad}"
    assert math["typeset"] == math["n"], f"math not typeset: {math['raw']}"
    if page.startswith("chapters/"):
        assert [i for i in images if not i["widget"]], "a chapter page without a figure"
        assert math["n"] > 0, "a chapter page without math"
    if has_widgets:
        assert widgets["manager"]
        assert widgets["sliders"] == _saved_sliders(page) > 0, widgets
        assert "Run" in widgets["buttons"], widgets
        assert any("Press Run" in t for t in widgets["html"]), widgets
        assert widgets["errors"] == 0, widgets
        # no kernel here: each explorer says where its controls run, and they are greyed out
        assert widgets["hint"] and all(
            "JupyterLab" in t and "Binder" in t for t in widgets["hint"]
        ), widgets
        assert widgets["dimmed"] >= 2 * len(widgets["hint"]), widgets
    else:
        assert not widgets["manager"], "a page without widgets loads the widget manager"


def _internal_links():
    """(page, href, target file, fragment) for every link of every built page that stays inside
    the site (no scheme, no host)."""
    from html.parser import HTMLParser
    from urllib.parse import unquote, urldefrag

    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.hrefs = []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "a" and a.get("href"):
                self.hrefs.append(a["href"])

    out = []
    for path in sorted(HTML.rglob("*.html")):
        if "_static" in path.parts or "_sources" in path.parts:
            continue
        parser = Links()
        parser.feed(path.read_text(errors="replace"))
        for href in parser.hrefs:
            u = urlparse(href)
            if u.scheme or u.netloc or href.startswith(("mailto:", "javascript:")):
                continue
            target, frag = urldefrag(href)
            target = unquote(target)
            file = (path.parent / target).resolve() if target else path
            if file.is_dir():
                file = file / "index.html"
            out.append((path.relative_to(HTML).as_posix(), href, file, frag))
    return out


def test_no_broken_internal_links(site):
    """Every link inside the site leads to a page that exists and, with a #fragment, to an
    element with that id on it."""
    ids = {}
    broken = []
    links = _internal_links()
    for page, href, file, frag in links:
        if not file.exists():
            broken.append(
                f"{page}: {href} (no "
                f"{file.relative_to(HTML.resolve()) if HTML.resolve() in file.parents else file})"
            )
            continue
        if frag and file.suffix == ".html":
            if file not in ids:
                ids[file] = set(re.findall(r'\sid="([^"]+)"', file.read_text(errors="replace")))
            if frag not in ids[file]:
                broken.append(f"{page}: {href} (no id {frag!r})")
    print(f"{len(links)} internal links checked, {len(broken)} broken")
    assert len(links) > 100
    assert not broken, "\n".join(broken[:40])


def test_search_works_offline(site, browser):
    """The search page finds a word of the book with no request leaving 127.0.0.1."""
    outside = []

    tab = _local_tab(browser, outside)
    try:
        tab.goto(f"{site}/search.html?q=minority", wait_until="load")
        tab.wait_for_selector("#search-results ul.search li", timeout=30_000)
        hits = tab.locator("#search-results ul.search li").count()
    finally:
        tab.close()
    assert not outside, outside
    assert hits >= 5, hits


ANIMATED = [
    p
    for p in PAGES
    if (ROOT / f"{p}.ipynb").exists() and "_anim_img" in (ROOT / f"{p}.ipynb").read_text()
]


def test_the_book_has_animations():
    assert "chapters/05_stage3" in ANIMATED and len(ANIMATED) >= 2, ANIMATED


@pytest.mark.parametrize("page", ANIMATED)
def test_animations_play_offline_and_step(page, site, browser):
    """Each animation's player loads its first frame, and stepping one frame changes the
    image; no request leaves 127.0.0.1 (the player's icon font is not linked)."""
    outside, errors = [], []

    tab = _local_tab(browser, outside)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        tab.goto(f"{site}/{page}.html", wait_until="load")
        tab.wait_for_load_state("networkidle")
        players = tab.locator("img[id^='_anim_img']")
        n = players.count()
        steps = []
        for k in range(n):
            img = players.nth(k)
            img.scroll_into_view_if_needed()
            first = img.get_attribute("src")
            width = img.evaluate("i => i.naturalWidth")
            box = img.locator("xpath=ancestor::div[contains(@class, 'animation')][1]")
            box.locator("button[title='Next frame']").click()
            tab.wait_for_timeout(300)
            steps.append((width, first != img.get_attribute("src")))
    finally:
        tab.close()
    assert not outside, outside
    assert not errors, errors
    assert n >= 1
    assert all(w > 0 and changed for w, changed in steps), steps


def test_findings_page_shows_the_claims_and_the_figure(site, browser):
    """The findings page opens with the paper's claims (one labelled line each) and the figure,
    one coloured cell per verdict row."""
    import json

    rows = sum(
        len(json.loads(p.read_text())["rows"])
        for p in (ROOT / "results" / "verdicts").glob("*.json")
    )
    tab = _local_tab(browser, [])
    try:
        tab.goto(f"{site}/findings.html", wait_until="load")
        cells = tab.locator(".findings-line .verdict-cell").count()
        claims = tab.locator(".findings-headline li").count()
        visible = tab.locator(".findings-figure").is_visible()
    finally:
        tab.close()
    assert cells == rows and claims >= 9 and visible
