"""Interactive explorers: move a slider, press Run, watch the neurons change.

Every explorer is one small pipeline, **controls -> configs -> run -> figures**, on ipywidgets:

* :class:`Explorer` holds the controls, a Run button, a message line, an output area (where
  the trainer's progress bar appears) and one image per figure. A subclass says which controls
  it has (:meth:`~Explorer.make_controls`), how their values become a list of
  :class:`~imbacl.config.Config` (:meth:`~Explorer.configs`), how those are trained
  (:meth:`~Explorer.compute`, by default one batched :func:`imbacl.sweep.run`) and how the result
  is drawn (:meth:`~Explorer.figures`, with the functions of :mod:`imbacl.plots`).
* :class:`GeneralExplorer`: every main knob; the Figure-1 heatmap and the alignment trajectories.
* :class:`RatioSweepExplorer`: a range of rho = eps_min / eps_max and some seeds; pure neurons
  per majority and per minority feature against rho.
* :class:`WidthExplorer`: a range of widths m at one rho and lam; the share of seeds in which
  every minority feature has a pure neuron, against m.
* :class:`LamEpsExplorer`: lam and eps_min; the Figure-1 heatmap and the point on the
  (lam, eps_min) plane next to the Stage-1 threshold of :func:`imbacl.theory.eps_threshold`.

Nothing trains when an explorer is built or displayed: only Run trains. Values that make an
invalid config (``n_majority > d``, ``eps_min > eps_max``, ...) show the Config's
``ValueError`` message in the message line, never a traceback, and a run whose cost exceeds the
explorer's ``budget`` is refused with a message before it starts. Costs are counted in
*figure1 run-steps*: one step of one run of the ``figure1`` preset is 1, and a step of a run
with other shapes costs in proportion to ``m * d1 * batch * seq_len``.

A chapter's own explorer is a subclass with a ``title``, ``figure_names`` and three methods, for
example::

    class TauExplorer(Explorer):
        title = "Explorer: the temperature"
        figure_names = ("heatmap",)

        def make_controls(self):
            return {"tau": ipw.FloatLogSlider(value=5, base=10, min=-0.3, max=1.7,
                                              description="τ")}

        def configs(self):
            return [self.base.replace(tau=self.controls["tau"].value)]

        def figures(self, result, configs):
            c = configs[0]
            return {"heatmap": plots.figure1(result[0].P[0, -1], c.d, c.n_majority)}

This module imports ipywidgets (as ``ipw``); ``import imbacl`` does not (``imbacl.widgets`` is
loaded on first use).
"""

from __future__ import annotations

import html
import io
import time
from typing import TYPE_CHECKING, Any, Sequence

import ipywidgets as ipw
import matplotlib.pyplot as plt
import numpy as np

from . import metrics, plots, sweep, theory
from .config import RHO_ARMS, Config, at_ratio, preset
from .resources import RATE, cost
from .train import train

if TYPE_CHECKING:
    from .history import History

DEFAULT_BUDGET = 60_000  # figure1 run-steps: tens of seconds on 2 CPU cores

__all__ = [
    "Explorer",
    "GeneralExplorer",
    "RatioSweepExplorer",
    "LamEpsExplorer",
    "WidthExplorer",
    "RemedyExplorer",
    "DigitsExplorer",
    "TooBigError",
    "DEFAULT_BUDGET",
]


class TooBigError(ValueError):
    """A run costs more than the explorer's budget."""


def _png(fig, dpi=90) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)  # never left for the inline backend to show at the next cell
    return buf.getvalue()


def _wide_axes(size=(7.2, 3.6)):
    """An axes wide enough for the trajectories' title."""
    return plt.subplots(figsize=size, layout="constrained")[1]


def _style():
    return dict(
        style={"description_width": "6em"}, layout=ipw.Layout(width="auto"), continuous_update=False
    )


def _seeds_slider(value, hi=16):
    return ipw.IntSlider(value=value, min=1, max=hi, description="seeds", **_style())


def _steps_slider(value, lo=100, hi=20_000):
    return ipw.IntSlider(value=value, min=lo, max=hi, step=100, description="steps T", **_style())


# What an explorer says on a static page of the book (no kernel behind its controls).
STATIC_HINT = (
    "<em>These controls need a running Python kernel: on this page they do nothing. "
    "Open the chapter in JupyterLab (<code>bash scripts/setup.sh</code>, then "
    "<code>.venv/bin/jupyter lab</code>), or on Binder where the book was built with "
    "its repository set (the launch button at the top of the page), run the notebook "
    "and press Run.</em>"
)


class Explorer:
    """The generic pipeline: controls -> configs -> run -> figures.

    base: the Config that controls override (default: the ``figure1`` preset).
    budget: the most figure1 run-steps one Run may cost. progress: show the trainer's progress
    bar (tqdm; a widget bar in Jupyter) in the output area while training.
    values: initial control values by name, e.g. ``GeneralExplorer(steps=1000)``.
    """

    title = "Explorer"
    figure_names: tuple = ()

    def __init__(
        self,
        base: Config | None = None,
        budget: float = DEFAULT_BUDGET,
        progress: bool = True,
        **values: Any,
    ):
        self.base = preset("figure1") if base is None else base
        self.budget = budget
        self.progress = progress
        self.controls = self.make_controls()
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(f"unknown control {unknown[0]!r}; allowed: {', '.join(self.controls)}")
        for name, v in values.items():
            self.controls[name].value = v
        self.button = ipw.Button(
            description="Run",
            button_style="primary",
            icon="play",
            tooltip="train with these settings and redraw",
        )
        self.message = ipw.HTML()
        self.output = ipw.Output(layout=ipw.Layout(min_height="0"))
        self.images = {
            n: ipw.Image(
                format="png",
                layout=ipw.Layout(
                    display="none",
                    max_width="100%",
                    height="auto",
                    flex="0 0 auto",
                    object_fit="contain",
                ),
            )
            for n in self.figure_names
        }
        self.result = None  # what the last successful Run computed
        self.last_configs = None
        self.fig = {}  # name -> the last matplotlib Figure drawn (closed)
        self.runs = 0  # successful Runs so far
        self.button.on_click(self._on_click)
        for w in self.controls.values():
            w.observe(self._on_change, names="value")
        grid = ipw.GridBox(
            list(self.controls.values()),
            layout=ipw.Layout(
                grid_template_columns="repeat(auto-fill, minmax(19em, 1fr))", grid_gap="0 1em"
            ),
        )
        run_row = ipw.HBox([self.button, self.message], layout=ipw.Layout(align_items="center"))
        # Hidden in a kernel; the book's stylesheet (_ext/static/imbacl.css) shows it on the
        # static pages, where the controls, saved with the page, have no kernel to run.
        hint = ipw.HTML(STATIC_HINT, layout=ipw.Layout(display="none"))
        hint.add_class("imbacl-static-hint")
        for w in (grid, run_row):
            w.add_class("imbacl-live-only")
        self.widget = ipw.VBox(
            [
                ipw.HTML(f"<b>{html.escape(self.title)}</b>"),
                hint,
                grid,
                run_row,
                self.output,
                ipw.HBox(list(self.images.values()), layout=ipw.Layout(flex_flow="row wrap")),
            ]
        )
        self.widget.add_class("imbacl-explorer")
        self._on_change()

    # -- what a subclass provides ----------------------------------------------------------
    def make_controls(self) -> dict:
        """name -> widget; every widget has a ``value``."""
        raise NotImplementedError

    def configs(self) -> list:
        """The configs the current values describe (Config raises ValueError if invalid)."""
        raise NotImplementedError

    def compute(self, configs: Sequence[Config]) -> Any:
        """Train ``configs``; default: one batched sweep (one batch per shape group)."""
        return sweep.run(configs, progress=self.progress)

    def figures(self, result: Any, configs: Sequence[Config]) -> dict:
        """name -> matplotlib Figure, drawn from ``result`` with imbacl.plots."""
        raise NotImplementedError

    def summary(self, result: Any, configs: Sequence[Config]) -> str:
        """One line of measured numbers shown after a Run."""
        return ""

    def describe(self, configs: Sequence[Config]) -> str:
        """One line on what Run would do."""
        return f"{len(configs)} run(s) x {configs[0].steps} steps"

    # -- the pipeline ----------------------------------------------------------------------
    def values(self) -> dict:
        return {n: w.value for n, w in self.controls.items()}

    def check(self) -> list:
        """The configs of the current values, or ValueError (invalid) / TooBigError (budget)."""
        configs = self.configs()
        c = cost(configs)
        if c > self.budget:
            raise TooBigError(
                f"too big: {self.describe(configs)} costs about {c:,.0f} figure1 run-steps, "
                f"the limit is {self.budget:,.0f} (about {self.budget / RATE:.0f} s); "
                f"lower steps, m, d or the number of runs"
            )
        return configs

    def _say(self, text, kind="info"):
        color = {"info": "#333", "error": "#b00020", "ok": "#1b5e20"}[kind]
        self.message.value = f'<span style="color:{color}">{html.escape(text)}</span>'
        self.message_kind, self.message_text = kind, text

    def _on_change(self, change=None):
        try:
            configs = self.check()
        except ValueError as e:
            self._say(str(e), "error")
            return
        c = cost(configs)
        self._say(
            f"{self.describe(configs)}: about {c:,.0f} figure1 run-steps "
            f"(~{max(c / RATE, 1):.0f} s). Press Run."
        )

    def run(self) -> bool:
        """What the Run button does. Returns True when it trained and redrew."""
        try:
            configs = self.check()
        except ValueError as e:
            self._say(str(e), "error")
            return False
        self._say(f"training {self.describe(configs)} ...")
        self.button.disabled = True
        self.output.outputs = ()  # clear (also outside a kernel, without escape codes)
        t0 = time.perf_counter()
        try:
            with self.output:
                result = self.compute(configs)
            figs = self.figures(result, configs)
            for name, fig in figs.items():
                self.fig[name] = fig
                self.images[name].value = _png(fig)
                self.images[name].layout.display = None
        except Exception as e:  # shown in the widget: a UI never throws a traceback
            self._say(f"{type(e).__name__}: {e}", "error")
            return False
        finally:
            self.button.disabled = False
        self.result, self.last_configs = result, configs
        self.runs += 1
        line = self.summary(result, configs)
        self._say(f"done in {time.perf_counter() - t0:.1f} s. {line}".strip(), "ok")
        return True

    def _on_click(self, button=None):
        try:
            self.run()
        except Exception as e:  # pragma: no cover - run() already catches
            self._say(f"{type(e).__name__}: {e}", "error")

    # -- display ---------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        data = self.widget._repr_mimebundle_(**kwargs)
        data["text/plain"] = f"{type(self).__name__} (press Run to train)"
        return data

    def __repr__(self):
        return f"{type(self).__name__}({self.values()})"


def _log_slider(desc, value, lo, hi, **kw):
    return ipw.FloatLogSlider(
        value=value,
        base=10,
        min=np.log10(lo),
        max=np.log10(hi),
        step=0.05,
        description=desc,
        readout_format=".3g",
        **_style(),
        **kw,
    )


class GeneralExplorer(Explorer):
    """Every main knob, one run: the Figure-1 heatmap (first 13 neurons, squared cosines on the
    d atoms) and every neuron's projection on its final dominant feature against step."""

    title = "Explorer: train one run and look at its neurons"
    figure_names = ("heatmap", "trajectories")

    def make_controls(self) -> dict:
        b = self.base
        return {
            "eps_max": ipw.FloatSlider(
                value=b.eps_max, min=0.01, max=0.5, step=0.01, description="ε_max", **_style()
            ),
            "eps_min": ipw.FloatSlider(
                value=b.eps_min,
                min=0.005,
                max=0.5,
                step=0.005,
                description="ε_min",
                readout_format=".3f",
                **_style(),
            ),
            "n_majority": ipw.IntSlider(
                value=b.n_majority, min=0, max=30, description="majority", **_style()
            ),
            "m": ipw.IntSlider(value=b.m, min=2, max=200, description="neurons m", **_style()),
            "d": ipw.IntSlider(value=b.d, min=2, max=b.d1, description="features d", **_style()),
            "lam": _log_slider("λ", b.lam, 1e-4, 0.3),
            "tau": _log_slider("τ", b.tau, 0.5, 50),
            "steps": _steps_slider(b.steps),
            "seed": ipw.IntSlider(value=b.seed, min=0, max=99, description="seed", **_style()),
        }

    def configs(self) -> list[Config]:
        v = self.values()
        return [self.base.replace(**v)]

    def describe(self, configs: Sequence[Config]) -> str:
        c = configs[0]
        return f"1 run, ρ = {c.rho:.2f}, {c.steps} steps"

    def compute(self, configs: Sequence[Config]) -> History:
        return train(configs, progress=self.progress)

    def figures(self, history: History, configs: Sequence[Config]) -> dict:
        return plots.run_overview(history)

    def summary(self, history: History, configs: Sequence[Config]) -> str:
        c = configs[0]
        n = metrics.pure_counts(history.P[0, -1], c.d)
        maj = n[: c.n_majority].mean() if c.n_majority else float("nan")
        mino = n[c.n_majority :].mean() if c.n_majority < c.d else float("nan")
        return (
            f"Pure neurons per majority feature {maj:.1f}, per minority feature {mino:.1f}; "
            f"features with a pure neuron: {int((n > 0).sum())} of {c.d}."
        )


class RatioSweepExplorer(Explorer):
    """rho = eps_min / eps_max over a range (eps_max from the base config), several seeds, one
    batch: pure neurons per majority and per minority feature against rho."""

    title = "Explorer: pure neurons against the ratio ρ = ε_min / ε_max"
    figure_names = ("curve",)

    def make_controls(self) -> dict:
        return {
            "rho": ipw.FloatRangeSlider(
                value=(0.1, 1.0), min=0.02, max=1.0, step=0.01, description="ρ range", **_style()
            ),
            "points": ipw.IntSlider(value=5, min=2, max=12, description="ρ values", **_style()),
            "arm": ipw.Dropdown(options=RHO_ARMS, value=RHO_ARMS[0], description="arm", **_style()),
            "seeds": _seeds_slider(3),
            "steps": _steps_slider(min(self.base.steps, 3000)),
        }

    def rhos(self) -> np.ndarray:
        lo, hi = self.controls["rho"].value
        return np.geomspace(lo, hi, self.controls["points"].value)

    def configs(self) -> list[Config]:
        v = self.values()
        base = self.base.replace(steps=v["steps"])
        return [
            at_ratio(base, float(r), v["arm"], digits=None).replace(seed=base.seed + s)
            for r in self.rhos()
            for s in range(v["seeds"])
        ]

    def describe(self, configs: Sequence[Config]) -> str:
        return (
            f"{len(self.rhos())} ρ values ({self.controls['arm'].value}) x "
            f"{self.controls['seeds'].value} seeds = "
            f"{len(configs)} runs of {configs[0].steps} steps"
        )

    def counts(
        self, result: sweep.SweepResult, configs: Sequence[Config]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pure neurons per majority / per minority feature, each (n_rho, n_seeds)."""
        c = configs[0]
        P = np.stack([result[i].P[0, -1] for i in range(len(result))])
        n = metrics.pure_counts(P, c.d).reshape(len(self.rhos()), -1, c.d)
        return n[..., : c.n_majority].mean(-1), n[..., c.n_majority :].mean(-1)

    def figures(self, result: sweep.SweepResult, configs: Sequence[Config]) -> dict:
        x = np.array([cc.rho for cc in configs[:: self.controls["seeds"].value]])
        maj, mino = self.counts(result, configs)
        return {
            "curve": plots.pure_vs_ratio(
                x, maj, mino, title=f"mean ± sd over {maj.shape[1]} seeds, {configs[0].steps} steps"
            )
        }

    def summary(self, result: sweep.SweepResult, configs: Sequence[Config]) -> str:
        maj, mino = self.counts(result, configs)
        return (
            f"Per minority feature: {mino.mean(1)[0]:.2f} at the smallest ρ, "
            f"{mino.mean(1)[-1]:.2f} at the largest."
        )


class LamEpsExplorer(Explorer):
    """lam and eps_min (the regularisation threshold): the Figure-1 heatmap of the first seed,
    and the chosen point on the (lam, eps_min) plane beside the Stage-1 threshold
    eps = lam d / (C_z log log d); ``C_z`` defaults to 1 (the paper does not give it), chapter 8
    passes the value it measures."""

    title = "Explorer: weight decay λ against the minority frequency ε_min"
    figure_names = ("heatmap", "plane")

    def __init__(self, *args: Any, C_z: float = 1.0, **kwargs: Any):
        self.C_z = C_z  # the threshold's constant; chapter 8 measures it
        super().__init__(*args, **kwargs)

    def make_controls(self) -> dict:
        b = self.base
        return {
            "lam": _log_slider("λ", b.lam, 1e-4, 0.3),
            "eps_min": _log_slider("ε_min", b.eps_min, 0.002, 0.5),
            "seeds": _seeds_slider(4),
            "steps": _steps_slider(b.steps),
        }

    def configs(self) -> list[Config]:
        v = self.values()
        base = self.base.replace(lam=v["lam"], eps_min=v["eps_min"], steps=v["steps"])
        return [c for _, c in sweep.grid(base, seeds=v["seeds"])]

    def describe(self, configs: Sequence[Config]) -> str:
        c = configs[0]
        return f"λ = {c.lam:.3g}, ε_min = {c.eps_min:.3g}: {len(configs)} seeds x {c.steps} steps"

    def minority_pure(self, result: sweep.SweepResult, configs: Sequence[Config]) -> np.ndarray:
        """Pure neurons per minority feature, one value per seed."""
        c = configs[0]
        P = np.stack([result[i].P[0, -1] for i in range(len(result))])
        return metrics.pure_counts(P, c.d)[:, c.n_majority :].mean(-1)

    def figures(self, result: sweep.SweepResult, configs: Sequence[Config]) -> dict:
        c = configs[0]
        heat = plots.figure1(
            result[0].P[0, -1],
            c.d,
            c.n_majority,
            title=rf"seed {c.seed}: $\lambda$ = {c.lam:.3g}, "
            rf"$\epsilon_{{min}}$ = {c.eps_min:.3g}",
        )
        plane = plots.lam_eps_plane(
            c.d,
            [c.lam],
            [c.eps_min],
            [self.minority_pure(result, configs).mean()],
            eps_max=c.eps_max,
            C_z=self.C_z,
        )
        return {"heatmap": heat, "plane": plane}

    def summary(self, result: sweep.SweepResult, configs: Sequence[Config]) -> str:
        c = configs[0]
        v = self.minority_pure(result, configs)
        return (
            f"Pure neurons per minority feature {v.mean():.2f} ± {v.std():.2f} over "
            f"{len(v)} seeds; threshold ε (C_z = {self.C_z:.2g}) at this λ: "
            f"{float(theory.eps_threshold(c.lam, c.d, self.C_z)):.3g}."
        )


class WidthExplorer(Explorer):
    """The number of neurons a minority feature needs (chapter 7): widths m = lo, 2 lo, ... hi at
    one rho and lam, several seeds; the share of seeds in which every minority feature has a
    pure neuron, against m."""

    title = "Explorer: how many neurons the minority features need"
    figure_names = ("curve",)

    def make_controls(self) -> dict:
        b = self.base
        return {
            "rho": ipw.FloatSlider(
                value=b.rho, min=0.05, max=1.0, step=0.05, description="ρ", **_style()
            ),
            "lam": _log_slider("λ", b.lam, 1e-4, 0.1),
            "m": ipw.IntRangeSlider(
                value=(4, 32), min=2, max=256, description="m range", **_style()
            ),
            "seeds": _seeds_slider(3),
            "steps": _steps_slider(min(b.steps, 2000)),
        }

    def widths(self) -> list[int]:
        lo, hi = self.controls["m"].value
        ms = [lo]
        while ms[-1] * 2 <= hi:
            ms.append(ms[-1] * 2)
        return ms

    def configs(self) -> list[Config]:
        v = self.values()
        base = self.base.replace(
            eps_min=v["rho"] * self.base.eps_max, lam=v["lam"], steps=v["steps"]
        )
        return [c for _, c in sweep.grid(base, seeds=v["seeds"], m=self.widths())]

    def describe(self, configs: Sequence[Config]) -> str:
        return (
            f"m = {self.widths()} x {self.controls['seeds'].value} seeds = "
            f"{len(configs)} runs of {configs[0].steps} steps"
        )

    def shares(self, result: sweep.SweepResult, configs: Sequence[Config]) -> np.ndarray:
        """Per width, the share of seeds with every minority feature covered."""
        c = configs[0]
        ok = [
            metrics.minority_covered(result[i].P[0, -1], c.d, c.n_majority)
            for i in range(len(configs))
        ]
        return np.asarray(ok, dtype=float).reshape(len(self.widths()), -1).mean(1)

    def figures(self, result: sweep.SweepResult, configs: Sequence[Config]) -> dict:
        c = configs[0]
        label = rf"$\rho$ = {c.rho:.2f}, $\lambda$ = {c.lam:.3g}"
        return {
            "curve": plots.coverage_vs_width(
                self.widths(),
                {label: self.shares(result, configs)},
                title=f"{self.controls['seeds'].value} seeds, {c.steps} steps",
            )
        }

    def summary(self, result: sweep.SweepResult, configs: Sequence[Config]) -> str:
        m_star = metrics.smallest_passing(self.widths(), self.shares(result, configs), 0.8)
        found = f"m = {m_star:g}" if np.isfinite(m_star) else "none in this range"
        return f"Smallest width covering every minority feature in 80% of seeds: {found}."


class RemedyExplorer(Explorer):
    """One remedy setting against the untreated baseline at the same rho and seeds (paired):
    the Figure-1 heatmap of the treated run (first seed) and the pure neurons per feature,
    treated vs untreated (chapter 9)."""

    title = "Explorer: a remedy against the untreated baseline"
    figure_names = ("heatmap", "pure")

    def make_controls(self) -> dict:
        b = self.base
        return {
            "rho": ipw.FloatSlider(
                value=0.3, min=0.05, max=1.0, step=0.05, description="ρ", **_style()
            ),
            "prune_frac": ipw.FloatSlider(
                value=b.prune_frac, min=0.0, max=0.9, step=0.05, description="prune α", **_style()
            ),
            "prune_grad": ipw.Dropdown(
                options=["straight_through", "blocked"],
                value=b.prune_grad,
                description="pruned grad",
                **_style(),
            ),
            "reweight": ipw.Dropdown(
                options=["none", "known", "focal"],
                value="known",
                description="reweight",
                **_style(),
            ),
            "resample": ipw.FloatSlider(
                value=b.resample, min=1.0, max=10.0, step=0.5, description="resample", **_style()
            ),
            "tau": _log_slider("τ", b.tau, 0.5, 50),
            "seeds": _seeds_slider(2, hi=8),
            "steps": _steps_slider(b.steps, lo=200, hi=10_000),
        }

    def configs(self) -> list[Config]:
        v = self.values()
        base = self.base.replace(eps_min=v["rho"] * self.base.eps_max, steps=v["steps"])
        treated = dict(
            prune_frac=v["prune_frac"],
            prune_grad=v["prune_grad"],
            reweight=v["reweight"],
            resample=v["resample"],
            tau=v["tau"],
        )
        return [base.replace(seed=s) for s in range(v["seeds"])] + [
            base.replace(seed=s, **treated) for s in range(v["seeds"])
        ]

    def describe(self, configs: Sequence[Config]) -> str:
        n = len(configs) // 2
        return (
            f"{n} treated + {n} untreated runs, ρ = {configs[0].rho:.2f}, {configs[0].steps} steps"
        )

    def figures(self, result: sweep.SweepResult, configs: Sequence[Config]) -> dict:
        n, c = len(configs) // 2, configs[-1]
        pure = np.stack([metrics.pure_counts(h.P[0, -1], c.d) for h in result])  # (2n, d)
        ax = _wide_axes((6, 3.2))
        fig, j = ax.figure, np.arange(1, c.d + 1)
        ax.bar(j - 0.2, pure[:n].mean(0), 0.4, color="0.6", label="untreated")
        ax.bar(j + 0.2, pure[n:].mean(0), 0.4, color=plots.MIN, label="treated")
        ax.axvline(c.n_majority + 0.5, color="k", lw=1)
        ax.set_xticks(j)
        ax.set_xlabel("feature $j$ (majority | minority)")
        ax.set_ylabel("pure neurons (mean over seeds)")
        ax.legend()
        return {
            "heatmap": plots.figure1(
                result[n].P[0, -1], c.d, c.n_majority, title=r"treated run: $\cos^2(w_i, M_j)$"
            ),
            "pure": fig,
        }

    def summary(self, result: sweep.SweepResult, configs: Sequence[Config]) -> str:
        n, c = len(configs) // 2, configs[-1]
        cov = [
            np.mean(
                [
                    metrics.coverage(h.P[0, -1], c.d)[c.n_majority :].mean()
                    for h in list(result)[k * n : (k + 1) * n]
                ]
            )
            for k in (0, 1)
        ]
        return f"Minority coverage: untreated {cov[0]:.2f}, treated {cov[1]:.2f}."


class DigitsExplorer(Explorer):
    """Chapter 12: the long-tailed digits at a minority fraction f, a weight decay and a
    remedy (one of ``imbacl.digits.REMEDY_ARMS``), against the untreated runs of the same
    seeds (paired): the Figure-1 heatmap of the first seed's neurons against the dictionary
    atoms (untreated, treated), and the dedicated neuron halves per majority and per minority
    digit (each run's own rare digits; mean over seeds)."""

    title = "Explorer: the long-tailed digits"
    figure_names = ("heatmap", "dedicated")

    def __init__(self, base: Config | None = None, atoms: np.ndarray | None = None, **kw: Any):
        from . import digits

        self.atoms = atoms
        self.arms = digits.REMEDY_ARMS
        super().__init__(base=digits.base_config() if base is None else base, **kw)

    def make_controls(self) -> dict:
        b = self.base
        return {
            "minority_frac": ipw.SelectionSlider(
                options=[0.03, 0.1, 0.3, 1.0], value=0.03, description="f", **_style()
            ),
            "lam": _log_slider("λ", b.lam, 1e-4, 0.1),
            "remedy": ipw.Dropdown(
                options=list(self.arms),
                value="reweight known",
                description="remedy",
                **_style(),
            ),
            "seeds": _seeds_slider(2, hi=8),
            "steps": _steps_slider(b.steps, lo=200, hi=4000),
        }

    def configs(self) -> list[Config]:
        v = self.values()
        base = self.base.replace(minority_frac=v["minority_frac"], lam=v["lam"], steps=v["steps"])
        treated = self.arms[v["remedy"]]
        seeds = range(v["seeds"])
        return [base.replace(seed=s) for s in seeds] + [
            base.replace(seed=s, **treated) for s in seeds
        ]

    def describe(self, configs: Sequence[Config]) -> str:
        n = len(configs) // 2
        return f"{n} treated + {n} untreated runs, f = {configs[0].minority_frac:g}"

    def compute(self, configs: Sequence[Config]) -> tuple:
        from . import digits

        result = sweep.run(configs, progress=self.progress, record_at=[0, configs[0].steps])
        W = np.stack([result[i].W[0] for i in range(len(configs))])
        if self.atoms is None:
            self.atoms = digits.learn_atoms()
        return W, digits.measure(configs, W, probe=False)

    def _groups(self, found, n: int) -> list:
        """[(majority, minority) per-run means (seeds,)] for the untreated and treated runs."""
        from . import digits

        return [
            digits.by_group(found["dedicated"][k], found["rare"][k])
            for k in (slice(0, n), slice(n, None))
        ]

    def figures(self, result: tuple, configs: Sequence[Config]) -> dict:
        from . import digits

        W, found = result
        n = len(configs) // 2
        energy = digits.atom_codes(configs[0], self.atoms)[1]
        heat = digits.plot_heatmaps(
            [W[0], W[n]], self.atoms, [energy, energy], ["untreated, seed 0", "treated, seed 0"]
        )
        ax = _wide_axes((5, 3.2))
        fig, j = ax.figure, np.arange(2)
        groups = self._groups(found, n)
        for k, (name, color, dx) in enumerate(
            (("untreated", "0.6", -0.2), ("treated", plots.MIN, 0.2))
        ):
            means = [groups[k][0].mean(), groups[k][1].mean()]
            ax.bar(j + dx, means, 0.4, color=color, label=name)
        ax.set_xticks(j, ["majority digits", "minority digits"])
        ax.set_ylabel("dedicated halves per digit\n(mean over seeds)")
        ax.legend()
        return {"heatmap": heat, "dedicated": fig}

    def summary(self, result: tuple, configs: Sequence[Config]) -> str:
        _, found = result
        groups = self._groups(found, len(configs) // 2)
        return (
            "Dedicated halves per minority digit: untreated "
            f"{groups[0][1].mean():.2f}, treated {groups[1][1].mean():.2f}; per majority digit: "
            f"{groups[0][0].mean():.2f}, {groups[1][0].mean():.2f}."
        )
