"""Scaling out: a sweep over a real Dask LocalCluster (processes) equals the in-process sweep;
the CUDA path runs only where CUDA is available."""

import os

import numpy as np
import pytest
import torch

from imbacl import metrics, preset, sweep, train


def _configs():
    base = preset("smoke", steps=80)
    return [base.replace(seed=s, eps_min=e) for s in (0, 1) for e in (0.02, 0.05)] + [
        preset("smoke", steps=80, m=6, seed=4)
    ]


def test_dask_local_cluster_matches_in_process_sweep():
    distributed = pytest.importorskip("distributed")
    configs = _configs()
    here = sweep.run(configs)
    # distributed writes its workers' environment (MALLOC_TRIM_THRESHOLD_=65536, *_NUM_THREADS=1)
    # into this process's os.environ too; every process started later (the nbval kernels of
    # the same test run) would inherit it and train about 3x slower. Put it back afterwards.
    saved = os.environ.copy()
    try:
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            far = sweep.run(configs, executor=client.get_executor(), max_batch=2)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert len(far.histories) == 3  # the 4-run group split in two, plus the m=6 group
    for a, b in zip(here, far):
        assert a.configs == b.configs
        assert np.array_equal(a.P, b.P) and np.array_equal(a.loss, b.loss)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_path_trains_deterministically_and_shows_k2():
    base = preset("figure1", steps=200)
    configs = [base.replace(seed=s) for s in range(4)]
    h1 = train(configs, device="cuda", record_at=[0, 100, 200])
    h2 = train(configs, device="cuda", record_at=[0, 100, 200])
    assert np.array_equal(h1.P, h2.P) and h1.meta["device"] == "cuda"
    alone = train(configs[2], device="cuda", record_at=[0, 100, 200])
    assert np.allclose(alone.P[0], h1.P[2], rtol=1e-4, atol=1e-6)
    logg = np.log(metrics.growth(h1.P[:, 0], h1.P[:, 1]))
    maj = np.median(logg[..., base.majority], axis=(1, 2))
    mino = np.median(logg[..., base.minority], axis=(1, 2))
    assert np.all(maj > mino + 0.5)


def test_engine_benchmark_script_runs(tmp_path):
    """benchmarks/engine.py (every table it prints, --split and --compile included) still runs
    against the package; what it measures is read off its table, not asserted here."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "engine.py"
    out = tmp_path / "rows.json"
    subprocess.run(
        [
            sys.executable,
            str(script),
            "--steps",
            "4",
            "--runs",
            "2",
            "--split",
            "2",
            "--compile",
            "--snapshots",
            "3",
            "--json",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    table = json.loads(out.read_text())
    rows = table["rows"]
    assert table["snapshots"] == 3
    assert list(table["products_alone"]) == ["2"] and table["products_alone"]["2"] > 0
    assert [(r["R"], r["how"]) for r in rows] == [
        (2, "engine"),
        (2, "engine, compile=True"),
        (2, "2 processes x 1 thread"),
        (2, "2 processes x 1 thread, compile=True"),
    ]
    assert all(r["rate"] > 0 and r["plain"] > 0 and np.isfinite(r["ratio"]) for r in rows)
    # compiled kernels round differently, but after 4 steps the weights are still close
    assert rows[1]["drift"] < 1e-5 and rows[3]["drift"] < 1e-5


def test_breakdown_script_sorts_the_step_into_kinds(tmp_path):
    """benchmarks/breakdown.py finds the step's own operators under their kinds (a renamed
    profiler event would land in the wrong one): torch's normal draws (the data's on the default
    path; the dictionary's and the initial weights' on both), the batched matrix products, and,
    compiled, the data's C draws and inductor's fused kernels (and only then)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "breakdown.py"
    out = tmp_path / "rows.json"
    subprocess.run(
        [sys.executable, str(script), "--runs", "2", "--steps", "5", "--json", str(out)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    rows = json.loads(out.read_text())
    assert [r["how"] for r in rows] == ["default", "compile=True"]
    for r in rows:
        ops = r["operators"]
        assert "aten::normal_" in ops["random draws"] and "aten::bmm" in ops["matrix products"]
        assert all(
            r[k] >= 0 for k in ("random draws", "matrix products", "other kernels", "framework")
        )
    assert "imbacl::draw_like_torch" in rows[1]["operators"]["random draws"]
    assert "imbacl::draw_like_torch" not in str(rows[0]["operators"])
    fused = [n for n in rows[1]["operators"]["other kernels"] if "cpp_fused" in n]
    assert fused and not any("cpp_fused" in n for n in rows[0]["operators"]["other kernels"])
    assert (
        rows[0]["inductor_kernels"] == 0 < rows[1]["inductor_kernels"] <= rows[1]["other kernels"]
    )


def test_compiled_step_is_the_default_path_up_to_rounding():
    """train(compile=True) runs the same step as one compiled function, with the attention unrolled
    over the tokens: its numbers are the default path's up to float rounding (which training
    then carries on, so compare early), and a run gives the same weights alone or in a batch and
    for any thread count, as on the default path."""
    from torch._dynamo.utils import counters

    configs = [preset("smoke", steps=40, seed=s) for s in range(3)]
    graphs = counters["stats"]["unique_graphs"]
    default, fast = train(configs), train(configs, compile=True)
    assert counters["stats"]["unique_graphs"] > graphs  # it did compile a graph
    assert np.abs(fast.P - default.P).max() < 1e-4 * np.abs(default.P).max()
    assert np.abs(fast.loss - default.loss).max() < 1e-5
    assert np.array_equal(train(configs[1], compile=True).P[0], fast.P[1])
    assert np.array_equal(train(configs, compile=True, threads=1).P, fast.P)


@pytest.mark.parametrize(
    "remedies",
    [
        dict(prune_frac=0.25, reweight="known"),
        dict(prune_frac=0.25, prune_grad="blocked", prune_start=7),
        dict(reweight="focal", reweight_gamma=1.5),
    ],
)
def test_compiled_step_in_groups_gives_every_run_the_same_weights(monkeypatch, remedies):
    """train(compile=True) calls the compiled step on groups of COMPILED_GROUP runs (to stay in
    cache); how the runs are grouped changes no weight, with the remedies' per-run tensors (prune
    fractions, pair weights, focal gamma) sliced along. The recorded loss, which inductor sums in
    an order that depends on the number of runs, may differ in its last bits."""
    from imbacl import fast

    configs = [preset("smoke", steps=20, seed=s, lr=0.4 + 0.1 * s, **remedies) for s in range(3)]
    whole = train(configs, compile=True)
    monkeypatch.setattr(fast, "COMPILED_GROUP", 2)  # groups of 2 and 1
    grouped = train(configs, compile=True)
    assert np.array_equal(grouped.P, whole.P) and np.array_equal(grouped.norms, whole.norms)
    assert np.abs(grouped.loss - whole.loss).max() < 1e-6 * np.abs(whole.loss).max()  # rounding


@pytest.mark.parametrize(
    "reweight, attention, prune_grad",
    [("known", "identity", "blocked"), ("focal", "none", "straight_through")],
)
def test_compiled_step_with_the_remedies(reweight, attention, prune_grad):
    configs = [
        preset(
            "smoke",
            steps=40,
            seed=s,
            reweight=reweight,
            prune_frac=0.25,
            prune_grad=prune_grad,
            prune_start=10 * s,
            resample=2.0,
            attention=attention,
        )
        for s in range(2)
    ]
    default, fast = train(configs), train(configs, compile=True)
    assert np.abs(fast.P - default.P).max() < 1e-4 * np.abs(default.P).max()
    assert np.abs(fast.loss - default.loss).max() < 1e-5


def test_cli_names_a_failed_compile(tmp_path):
    """Without a working C++ compiler, --compile stops with one line naming the option."""
    import subprocess
    import sys

    env = dict(
        os.environ,
        CXX=str(tmp_path / "no-such-compiler"),
        TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache"),
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "imbacl",
            "run",
            "--preset",
            "smoke",
            "--set",
            "steps=3",
            "--compile",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: compile=True: torch.compile could not build")
    assert "C++ compiler" in out.stderr and out.stderr.count("\n") == 1
