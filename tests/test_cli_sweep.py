import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from imbacl import cli, preset, sweep, train
from imbacl.config import FIELD_NAMES


def test_grid_and_parse_grid():
    axes = sweep.parse_grid(["eps_min=0.01,0.03", "lam=0.001"])
    assert axes == {"eps_min": [0.01, 0.03], "lam": [0.001]}
    pts = sweep.grid(preset("smoke", seed=5), seeds=2, **axes)
    assert [(o["eps_min"], c.seed) for o, c in pts] == [(0.01, 5), (0.01, 6), (0.03, 5), (0.03, 6)]
    with pytest.raises(ValueError, match="name=value"):
        sweep.parse_grid(["lam"])


def test_sweep_groups_by_shape_and_matches_single_runs():
    cfgs = [preset("smoke", steps=60, m=m, seed=s) for m in (8, 12) for s in (0, 1)]
    res = sweep.run(cfgs)
    assert len(res.histories) == 2 and len(res) == 4
    with ThreadPoolExecutor(2) as ex:
        split = sweep.run(cfgs, executor=ex, max_batch=1)
    assert len(split.histories) == 4
    for i, c in enumerate(cfgs):
        alone = train(c)
        assert res[i].configs == [c] and np.array_equal(res[i].P, alone.P)
        assert np.array_equal(split[i].P, alone.P)


def _batch_finals(batch, steps):
    """One value per run of the batch: its final loss, and the batch it trained in."""
    h = train([c.replace(steps=steps) for c in batch])
    return [(float(h.loss[r, -1]), tuple(c.seed for c in batch)) for r in range(len(batch))]


def test_run_each_batches_like_run_and_returns_one_result_per_config_in_order():
    cfgs = [preset("smoke", m=m, seed=s) for s in (0, 1, 2) for m in (8, 12)]  # shapes interleaved
    here = sweep.run_each(_batch_finals, cfgs, steps=30)
    with ThreadPoolExecutor(2) as ex:
        split = sweep.run_each(_batch_finals, cfgs, executor=ex, max_batch=2, steps=30)
    assert [b for _, b in here] == [(0, 1, 2), (0, 1, 2)] * 3  # one batch per shape
    assert [b for _, b in split] == [(0, 1), (0, 1), (0, 1), (0, 1), (2,), (2,)]
    for c, (loss, _), (loss2, _) in zip(cfgs, here, split):
        assert loss == loss2 == float(train(c.replace(steps=30)).loss[0, -1])


def test_cli_json_run(capsys):
    assert (
        cli.main(["run", "--preset", "smoke", "--seeds", "2", "--set", "steps=40", "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert set(out["config"]) == set(FIELD_NAMES) and out["config"]["steps"] == 40
    assert [r["seed"] for r in out["runs"]] == [0, 1]
    r = out["runs"][0]
    assert np.array(r["cos2"]).shape == (12, 6) and r["majority"] == [0, 1, 2]
    assert r["minority"] == [3, 4, 5] and np.isfinite(r["loss_final"])


def test_cli_json_sweep(capsys):
    argv = [
        "sweep",
        "--preset",
        "smoke",
        "--set",
        "steps=30",
        "--grid",
        "lam=0,0.01",
        "--grid",
        "tau=2,5",
        "--json",
    ]
    assert cli.main(argv) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [r["overrides"] for r in runs] == [
        {"lam": 0.0, "tau": 2.0},
        {"lam": 0.0, "tau": 5.0},
        {"lam": 0.01, "tau": 2.0},
        {"lam": 0.01, "tau": 5.0},
    ]


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["run", "--set", "d=40"], "d=40"),
        (["run", "--set", "foo=1"], "unknown field 'foo'"),
        (["run", "--set", "lam=abc"], "lam='abc'"),
        (["run", "--preset", "nope"], "preset='nope'"),
        (["sweep", "--grid", "tau"], "name=value"),
        (["bogus"], "invalid choice"),
        (["run", "--seeds", "0"], "--seeds=0"),
        (["run", "--set", "m=3.5"], "integer"),
        (["run", "--preset", "smoke", "--set", "lr=1e6"], "non-finite"),
    ],
)
def test_cli_errors_exit_2_with_one_line(argv, needle, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_module_entry_point_exit_code():
    p = subprocess.run(
        [sys.executable, "-m", "imbacl", "run", "--set", "tau=0"], capture_output=True, text=True
    )
    assert p.returncode == 2 and "tau=0.0 is invalid" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run(
        [sys.executable, "-m", "imbacl", "run", "--preset", "smoke", "--set", "steps=20"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0 and "seed" in p.stdout


def test_find_locates_a_grid_point_and_refuses_a_missing_one():
    from imbacl import preset, sweep

    points = sweep.grid(preset("smoke"), seeds=2, lam=[0.0, 0.01], eps_min=[0.02, 0.05])
    k = sweep.find(points, lam=0.01, eps_min=0.02, seed=1)
    assert points[k][0] == {"lam": 0.01, "eps_min": 0.02} and points[k][1].seed == 1
    with pytest.raises(ValueError, match="no point"):
        sweep.find(points, lam=0.3, eps_min=0.02)
