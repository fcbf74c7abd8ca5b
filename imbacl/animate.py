"""Animations for the static pages: training as a scrubbable picture, with no kernel.

matplotlib's JavaScript player (``FuncAnimation.to_jshtml``) embeds every frame (here a JPEG) in one
self-contained HTML output. Two changes make it fit the book: its buttons use an icon font
linked from a CDN (pages make no outside request), so the link is dropped and the icons become
plain characters; and its element ids are random (``uuid4``), so they are replaced by one
derived from the animation's name, and a re-executed notebook gives the same HTML (nbval
compares it).
"""

from __future__ import annotations

import re
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING

import matplotlib
from matplotlib.animation import HTMLWriter
import numpy as np
from numpy.typing import ArrayLike

from . import metrics, plots

if TYPE_CHECKING:
    import matplotlib.animation

# The player's buttons: Font Awesome class -> a character every default font has.
ICONS = {
    "fa-minus": "&minus;",
    "fa-fast-backward": "&#x23EE;",
    "fa-step-backward": "&#x25C2;",
    "fa-play fa-flip-horizontal": "&#x25C0;",
    "fa-pause": "&#x2759;&#x2759;",
    "fa-play": "&#x25B6;",
    "fa-step-forward": "&#x25B8;",
    "fa-fast-forward": "&#x23ED;",
    "fa-plus": "+",
}


class Animation:
    """An animation as one HTML output (the player and its frames)."""

    def __init__(self, html: str, n_frames: int, name: str):
        self.html, self.n_frames, self.name = html, n_frames, name

    def _repr_html_(self):
        return self.html

    def __repr__(self):
        return f"<animation {self.name!r}: {self.n_frames} frames, {len(self.html) / 1e6:.2f} MB>"


def player_html(anim: matplotlib.animation.Animation, name: str, fps: float) -> str:
    """``anim.to_jshtml`` made offline (no icon-font link) and deterministic (ids from
    ``name``)."""
    # anim.to_jshtml, with JPEG frames (quality 65): a sixth of PNG's bytes for these heatmaps,
    # so that the committed notebooks stay small
    with TemporaryDirectory() as tmp, matplotlib.rc_context({"animation.frame_format": "jpeg"}):
        writer = HTMLWriter(fps=fps, embed_frames=True, default_mode="once")
        anim.save(
            str(Path(tmp, "a.html")), writer=writer, savefig_kwargs={"pil_kwargs": {"quality": 65}}
        )
        html = Path(tmp, "a.html").read_text()
    uid = re.search(r'id="_anim_img([0-9a-f]+)"', html).group(1)
    html = html.replace(uid, re.sub(r"[^A-Za-z0-9_]", "_", name))
    html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">\s*', "", html)
    for cls, char in ICONS.items():
        html = html.replace(f'<i class="fa {cls}"></i>', f'<span aria-hidden="true">{char}</span>')
    if "http://" in html or "https://" in html or 'class="fa ' in html:
        raise RuntimeError("the animation player still refers to an outside resource")
    return html


def frame_indices(steps: ArrayLike, max_frames: int) -> np.ndarray:
    """Snapshot indices nearest to ``max_frames`` log-spaced steps from 0 to the last one
    (Stage 1 is short and the end is long: equal steps would spend every frame on Stage 3)."""
    steps = np.asarray(steps)
    want = np.concatenate([[0], np.geomspace(1, max(steps[-1], 1), max_frames - 1)])
    return np.unique([int(np.abs(steps - t).argmin()) for t in want])


def stage_animation(
    steps: np.ndarray,
    P: ArrayLike,
    d: int,
    n_majority: int,
    marks: dict | None = None,
    name: str = "stages",
    title: str = "",
    max_frames: int = 12,
    n_neurons: int = 13,
    fps: float = 2,
    dpi: int = 48,
) -> Animation:
    """Training of one run as a picture that moves: left, Figure 1's heatmap
    ``cos^2(w_i, M_j)`` of the first ``n_neurons`` neurons at the frame's step; right, the
    growth of majority, minority and non-feature directions (:func:`imbacl.plots.growth_curves`)
    with the stage ends ``marks`` (legend label -> step, e.g. ``{"T1 (est.)": 98}``) and the
    frame's step marked.
    steps: (S,); P: (S, m, d1) snapshots of one run."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    P = np.asarray(P, dtype=np.float64)
    frames = frame_indices(steps, max_frames)
    fig, (ax_h, ax_g) = plt.subplots(
        1, 2, figsize=(9.5, 3.6), layout="constrained", gridspec_kw={"width_ratios": [1, 1.5]}
    )
    plots.figure1(P[frames[0]], d, n_majority, n_neurons, ax=ax_h)
    image = ax_h.images[0]
    plots.growth_curves(np.maximum(steps, 1), P, d, n_majority, ax=ax_g)
    ax_g.set_xscale("log")
    ax_g.set_xlabel("step $t$ (log; step 0 drawn at 1)")
    for k, (label, t) in enumerate((marks or {}).items()):
        ax_g.axvline(max(t, 1), color="k", ls=":" if k == 0 else "--", lw=1, label=label)
    now = ax_g.axvline(1, color="tab:red", lw=1.5, label="this frame")
    ax_g.legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)

    def draw(k):
        s = frames[k]
        image.set_data(metrics.cos2(P[s], d)[:n_neurons])
        ax_h.set_title(rf"$\cos^2(w_i, M_j)$ at step {int(steps[s])}")
        now.set_xdata([max(steps[s], 1)] * 2)
        return image, now

    fig.set_dpi(dpi)
    anim = FuncAnimation(fig, draw, frames=len(frames), interval=1000 / fps, blit=False)
    try:
        html = player_html(anim, name, fps)
    finally:
        plt.close(fig)
    return Animation(html, len(frames), name)
