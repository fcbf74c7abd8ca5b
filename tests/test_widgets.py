"""The explorers of imbacl.widgets, driven without a browser: set values, press Run, read the
message line and the figures."""

import html
import subprocess
import sys

import numpy as np
import pytest

import imbacl
from imbacl import metrics, plots, resources, theory

w = imbacl.widgets
SMOKE = imbacl.preset("smoke", steps=200)
PNG = b"\x89PNG\r\n\x1a\n"


def _forbid_training(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("an explorer trained without Run being pressed")

    monkeypatch.setattr(w, "train", boom)
    monkeypatch.setattr(w.sweep, "run", boom)


def test_import_imbacl_does_not_need_ipywidgets():
    code = (
        "import sys, imbacl; assert 'ipywidgets' not in sys.modules; "
        "m = imbacl.widgets; assert 'ipywidgets' in sys.modules; "
        "assert m.GeneralExplorer is imbacl.widgets.GeneralExplorer"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError, match="no_such"):
        imbacl.no_such


def test_cost_counts_figure1_run_steps():
    f1 = imbacl.preset("figure1")
    assert resources.cost([f1]) == f1.steps
    assert resources.cost([f1, f1.replace(seed=1)]) == 2 * f1.steps
    assert resources.cost([f1.replace(m=60, steps=100)]) == 200
    assert resources.cost([SMOKE]) == pytest.approx(200 * 12 * 16 * 32 * 4 / resources.FIGURE1_WORK)


@pytest.mark.parametrize(
    "cls",
    [w.GeneralExplorer, w.RatioSweepExplorer, w.LamEpsExplorer, w.WidthExplorer, w.RemedyExplorer],
)
def test_building_and_displaying_never_trains(cls, monkeypatch):
    _forbid_training(monkeypatch)
    e = cls(base=SMOKE, progress=False)
    bundle = e._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == f"{cls.__name__} (press Run to train)"
    assert e.runs == 0 and e.result is None and e.fig == {}
    assert all(
        bytes(img.value) == b"" and img.layout.display == "none" for img in e.images.values()
    )
    assert "Press Run" in e.message_text
    # the static-page hint is there, hidden in a kernel (the book's CSS shows it on its pages)
    hint = [c for c in e.widget.children if "imbacl-static-hint" in c._dom_classes]
    assert len(hint) == 1 and hint[0].layout.display == "none" and "Binder" in hint[0].value
    assert "imbacl-explorer" in e.widget._dom_classes
    # changing a control only re-validates
    name = next(iter(e.controls))
    ctl = e.controls[name]
    ctl.value = ctl.min if not isinstance(ctl.value, tuple) else (ctl.min, ctl.max)
    assert e.runs == 0


def test_unknown_control_is_refused():
    with pytest.raises(ValueError, match="unknown control 'bogus'"):
        w.GeneralExplorer(base=SMOKE, bogus=1)


def test_general_run_draws_the_trained_run_and_redraws_on_change():
    e = w.GeneralExplorer(base=SMOKE, progress=False)
    cfg = e.configs()[0]
    assert cfg == SMOKE
    e.button.click()
    assert e.runs == 1 and e.message_kind == "ok", e.message_text
    assert "Pure neurons per majority feature" in e.message_text
    for name in ("heatmap", "trajectories"):
        assert bytes(e.images[name].value).startswith(PNG) and e.images[name].layout.display is None
    # the heatmap shows exactly the squared cosines of the same run trained directly
    h = imbacl.train(cfg)
    heat = np.asarray(e.fig["heatmap"].axes[0].images[0].get_array())
    np.testing.assert_allclose(heat, metrics.cos2(h.P[0, -1], cfg.d)[:13])
    png = bytes(e.images["heatmap"].value)
    # another seed: the figure changes
    e.controls["seed"].value = 1
    e.button.click()
    assert e.runs == 2 and e.last_configs[0].seed == 1
    heat2 = np.asarray(e.fig["heatmap"].axes[0].images[0].get_array())
    assert not np.allclose(heat, heat2)
    assert bytes(e.images["heatmap"].value) != png
    # fewer neurons: the heatmap has fewer rows
    e.controls["m"].value = 5
    e.button.click()
    assert np.asarray(e.fig["heatmap"].axes[0].images[0].get_array()).shape == (5, cfg.d)


@pytest.mark.parametrize(
    "values, expected",
    [
        (dict(n_majority=7), "n_majority=7 is invalid: must be between 0 and d=6"),
        (dict(eps_max=0.05, eps_min=0.1), "eps_min=0.1 is invalid: must be <= eps_max=0.05"),
    ],
)
def test_invalid_combination_shows_the_config_message(values, expected, monkeypatch):
    e = w.GeneralExplorer(base=SMOKE, progress=False)
    for k, v in values.items():
        e.controls[k].value = v
    assert expected in e.message_text and e.message_kind == "error"  # shown on change
    assert html.escape(expected) in e.message.value  # in the HTML widget
    _forbid_training(monkeypatch)
    e.button.click()  # and on Run
    assert expected in e.message_text and "Traceback" not in e.message_text
    assert e.runs == 0 and bytes(e.images["heatmap"].value) == b""


def test_too_big_run_is_refused_before_training(monkeypatch):
    _forbid_training(monkeypatch)
    e = w.GeneralExplorer(progress=False)  # figure1: 30 neurons
    e.controls["steps"].value = 20_000
    e.controls["m"].value = 200
    assert "too big" in e.message_text and "133,333" in e.message_text
    e.button.click()
    assert "too big" in e.message_text and e.runs == 0
    # a smaller budget refuses the default run too; a larger one accepts the big one
    assert "too big" in w.GeneralExplorer(progress=False, budget=100).message_text
    assert (
        "Press Run"
        in w.GeneralExplorer(progress=False, budget=2e5, steps=20_000, m=200).message_text
    )


def test_a_failing_run_is_reported_in_the_widget(monkeypatch):
    e = w.GeneralExplorer(base=SMOKE, progress=False)

    def diverge(configs):
        raise imbacl.NonFiniteError("run 0 (seed 0) has a non-finite loss at step 3")

    monkeypatch.setattr(e, "compute", diverge)
    e.button.click()  # does not raise
    assert "NonFiniteError: run 0 (seed 0)" in e.message_text and e.runs == 0
    assert not e.button.disabled


def test_ratio_sweep_draws_pure_counts_against_rho():
    e = w.RatioSweepExplorer(base=SMOKE, progress=False, rho=(0.2, 1.0), points=3, seeds=2)
    configs = e.configs()
    assert len(configs) == 6 and {c.steps for c in configs} == {200}
    np.testing.assert_allclose(sorted({c.rho for c in configs}), np.geomspace(0.2, 1, 3))
    e.button.click()
    assert e.runs == 1 and e.message_kind == "ok", e.message_text
    ax = e.fig["curve"].axes[0]
    maj_line, min_line = ax.lines
    np.testing.assert_allclose(min_line.get_xdata(), np.geomspace(0.2, 1, 3))
    # the minority curve is the seed-mean of pure neurons per minority feature
    P = np.stack([h.P[0, -1] for h in imbacl.sweep.run(configs)])
    n = metrics.pure_counts(P, SMOKE.d)[:, SMOKE.n_majority :].mean(-1).reshape(3, 2)
    np.testing.assert_allclose(min_line.get_ydata(), n.mean(1))
    assert ax.get_xscale() == "log"
    e.controls["points"].value = 2
    e.button.click()
    assert len(e.fig["curve"].axes[0].lines[1].get_xdata()) == 2
    # the density-matched arm: the same ratios, every run at the density of rho = 1
    e.controls["arm"].value = "density matched"
    dm = e.configs()
    np.testing.assert_allclose(sorted({c.rho for c in dm}), [0.2, 1.0])
    assert all(sum(c.freqs) == pytest.approx(SMOKE.d * SMOKE.eps_max) for c in dm)
    assert "density matched" in e.describe(dm)


def test_lam_eps_explorer_marks_the_point_on_the_plane():
    e = w.LamEpsExplorer(base=SMOKE, progress=False, lam=0.001, eps_min=0.05, seeds=2)
    assert all(
        c.lam == pytest.approx(0.001) and c.eps_min == pytest.approx(0.05) for c in e.configs()
    )
    e.button.click()
    assert e.runs == 1 and e.message_kind == "ok", e.message_text
    plane = e.fig["plane"].axes[0]
    np.testing.assert_allclose(plane.collections[-1].get_offsets()[0], [0.001, 0.05], rtol=1e-6)
    assert "Pure neurons per minority feature" in e.message_text
    e.controls["lam"].value = 0.3  # large weight decay: nothing is learned
    e.controls["seeds"].value = 1
    e.button.click()
    assert e.runs == 2 and "0.00 ± 0.00 over 1 seeds" in e.message_text


def test_lam_eps_plane_draws_the_theory_threshold():
    fig = plots.lam_eps_plane(9, [1e-3, 1e-2], [0.01, 0.05], values=[0.5, 2.0], eps_max=0.1)
    ax = fig.axes[0]
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_ydata(), theory.eps_threshold(line.get_xdata(), 9))
    assert len(fig.axes) == 2  # the colour bar
    np.testing.assert_allclose(ax.collections[-1].get_array(), [0.5, 2.0])
    fig2 = plots.lam_eps_plane(9, 1e-3, 0.01, C_z=2.0)
    line2 = fig2.axes[0].lines[0]
    np.testing.assert_allclose(line2.get_ydata(), theory.eps_threshold(line2.get_xdata(), 9) / 2)
    assert len(fig2.axes) == 1


def test_remedy_explorer_runs_pairs_and_reports_coverage():
    from imbacl import metrics, preset, widgets

    ex = widgets.RemedyExplorer(base=preset("smoke"), progress=False, steps=200, seeds=1)
    configs = ex.check()
    assert len(configs) == 2 and configs[0].reweight == "none" and configs[1].reweight == "known"
    assert configs[0].seed == configs[1].seed and configs[0].rho == configs[1].rho
    assert ex.runs == 0  # nothing trained on construction
    assert ex.run() and ex.runs == 1 and "Minority coverage" in ex.message_text
    treated = ex.result[1].P[0, -1]
    expected = metrics.cos2(treated, configs[1].d)[:13]
    assert ex.fig["heatmap"].axes[0].images[0].get_array().shape == expected.shape
    big = widgets.RemedyExplorer(progress=False)  # figure1 base: 16 runs x 10,000 steps
    big.controls["steps"].value = 10_000
    big.controls["seeds"].value = 8
    assert big.message_kind == "error" and "too big" in big.message_text and not big.run()


def test_width_explorer_draws_the_covered_share_against_m():
    e = w.WidthExplorer(
        base=SMOKE, progress=False, m=(3, 12), seeds=2, steps=200, rho=1.0, lam=0.001
    )
    assert e.widths() == [3, 6, 12]
    configs = e.configs()
    assert [c.m for c in configs] == [3, 3, 6, 6, 12, 12] and {c.rho for c in configs} == {1.0}
    e.button.click()
    assert e.runs == 1 and e.message_kind == "ok", e.message_text
    line = e.fig["curve"].axes[0].lines[0]
    np.testing.assert_array_equal(line.get_xdata(), [3, 6, 12])
    # the curve is the share of seeds whose every minority feature has a pure neuron
    res = imbacl.sweep.run(configs)
    ok = [metrics.coverage(res[i].P[0, -1], SMOKE.d)[SMOKE.n_majority :].all() for i in range(6)]
    np.testing.assert_allclose(line.get_ydata(), np.reshape(ok, (3, 2)).mean(1))
    assert "Smallest width" in e.message_text
    e.controls["m"].value = (2, 256)  # 8 widths x 16 seeds x 20,000 steps
    e.controls["steps"].value = 20_000
    e.controls["seeds"].value = 16
    assert e.message_kind == "error" and "too big" in e.message_text and not e.run()


def test_lam_eps_explorer_draws_the_threshold_with_the_given_constant():
    e = w.LamEpsExplorer(base=SMOKE, progress=False, C_z=3.0, lam=0.001, eps_min=0.05, seeds=1)
    e.button.click()
    line = e.fig["plane"].axes[0].lines[0]
    np.testing.assert_allclose(
        line.get_ydata(), theory.eps_threshold(line.get_xdata(), SMOKE.d, 3.0)
    )
    assert "C_z = 3" in e.message_text
