"""Check an explorer in a real JupyterLab, in headless Chromium: open a one-cell notebook that
shows an explorer (as the chapters' last cells do), run it, move a slider, press Run, and wait
for the redrawn figures.

    .venv/bin/python scripts/check_jupyterlab.py ["imbacl.widgets.GeneralExplorer(steps=300)"]

Not part of the test suite (it starts a Jupyter server and a kernel and trains a run); a manual
check of what the static pages cannot show: that the widgets are live in JupyterLab. Saves
screenshots to _build/screenshots/jupyterlab_*.png and prints what it saw.
"""

import socket
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "_build" / "screenshots"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(cell="imbacl.widgets.GeneralExplorer(steps=300)"):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"import imbacl\n{cell}")]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook = "_build/jupyterlab_check.ipynb"
    nbformat.write(nb, ROOT / notebook)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.token=",
            "--ServerApp.password=",
            "--ServerApp.ip=127.0.0.1",
            "--allow-root",
            f"--ServerApp.root_dir={ROOT}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        for _ in range(60):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/{notebook}?reset", wait_until="load")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            time.sleep(5)  # kernel start
            page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor").first.click()
            page.keyboard.press("Shift+Enter")
            last = page.locator(".jp-Notebook .jp-Cell").first
            page.wait_for_selector(".jp-OutputArea .widget-slider", timeout=120_000)
            out = last.locator(".jp-OutputArea").first
            n_sliders = out.locator(".widget-slider").count()
            # the explorer's message line sits beside the Run button (the progress bar has HTML too)
            line = (
                out.locator(".widget-hbox", has=page.locator("button.jupyter-button"))
                .locator(".widget-html-content")
                .first
            )
            message = line.inner_text()
            # the static pages' hint stays hidden in a live kernel (the book's CSS shows it)
            hint_shown = out.locator(".imbacl-static-hint").first.is_visible()
            # change the seed slider with the keyboard: focus its handle and press the right arrow
            handle = out.locator(".widget-slider").last.locator(".noUi-handle").first
            handle.focus()
            page.keyboard.press("ArrowRight")
            time.sleep(1)
            seed = out.locator(".widget-slider").last.locator(".widget-readout").inner_text()
            out.locator("button.jupyter-button", has_text="Run").click()
            page.wait_for_selector(
                ".jp-OutputArea img[src^='blob:'], .jp-OutputArea .widget-image", timeout=300_000
            )
            deadline = time.time() + 300
            done = ""
            while time.time() < deadline:
                done = line.inner_text()
                if done.startswith("done") or "Error" in done:
                    break
                time.sleep(2)
            images = out.locator(".widget-image").count()
            page.screenshot(path=str(SHOTS / "jupyterlab_explorer.png"), full_page=False)
            last.screenshot(path=str(SHOTS / "jupyterlab_explorer_cell.png"))
            browser.close()
        print(f"JupyterLab, cell {cell!r}: {n_sliders} sliders; before Run: {message!r}")
        print(
            f"seed slider moved to {seed}; after Run: {done!r}; {images} figure widgets; "
            f"static-page hint shown: {hint_shown}"
        )
        ok = n_sliders > 0 and done.startswith("done") and images > 0 and not hint_shown
        print("OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
