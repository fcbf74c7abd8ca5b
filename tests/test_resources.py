"""imbacl.resources: the memory and run-step estimate, the memory available, and the check that
refuses, in one line, what would not fit."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from imbacl import Config, preset, resources
from imbacl.errors import ConfigError, ResourceError

ROOT = Path(__file__).resolve().parents[1]

# One process: import imbacl, maybe train, print the peak resident memory in bytes: VmHWM of
# this process image (kB). Not ru_maxrss, which keeps the high-water mark of the process before
# exec, i.e. of the forked pytest (close to 1 GB in the full suite, which hid every training).
_PEAK = """
import json, re, sys
import torch
torch.set_num_threads(1)
import imbacl
kw, runs, n_snapshots = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
if runs:
    imbacl.train([imbacl.Config(**kw, seed=s) for s in range(runs)], threads=1,
                 n_snapshots=n_snapshots)
status = open("/proc/self/status").read()
print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) * 1024)
"""


def _peak(kw, runs, n_snapshots=100):
    out = subprocess.run(
        [sys.executable, "-c", _PEAK, json.dumps(kw), str(runs), str(n_snapshots)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.split()[-1])


@pytest.fixture(scope="module")
def import_peak():
    return _peak({}, 0)


# Shapes whose peak is driven by different terms, each 100-250 MB and a few seconds to train;
# long enough (3 chunks of 16 steps where it matters) for the allocator to reach its steady state.
SHAPES = {
    "snapshots": (dict(d=16, d1=256, m=64, n_majority=8, batch=8, seq_len=2, steps=1000), 8, 200),
    "data and activations": (
        dict(d=16, d1=128, m=256, n_majority=8, batch=512, seq_len=8, steps=12),
        2,
        100,
    ),
    "re-sampling pool": (
        dict(d=9, d1=64, m=32, batch=256, seq_len=4, steps=40, resample=10.0),
        2,
        100,
    ),
    "dictionaries": (dict(d=16, d1=1024, m=32, n_majority=8, batch=8, seq_len=2, steps=5), 8, 100),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_estimate_is_within_a_factor_2_of_the_measured_peak(name, import_peak):
    kw, runs, n_snapshots = SHAPES[name]
    measured = _peak(kw, runs, n_snapshots) - import_peak
    est = resources.estimate(
        [Config(**kw, seed=s) for s in range(runs)], n_snapshots=n_snapshots, threads=1
    )
    assert measured > 50e6, f"{name}: {measured / 1e6:.0f} MB is too small to compare"
    assert measured / 2 <= est.bytes <= 2 * measured, (
        f"{name}: estimate {est.bytes / 1e6:.0f} MB, measured {measured / 1e6:.0f} MB"
    )


def test_estimate_fields_breakdown_and_one_line():
    configs = [preset("figure1", seed=s) for s in range(8)]
    est = resources.estimate(configs)
    assert est.bytes == sum(est.breakdown.values()) > 0
    assert est.run_steps == 8 * 3001 and est.batches == 1 and est.seconds > 0
    assert set(est.breakdown) >= {
        "dictionaries",
        "weights",
        "snapshots",
        "loss history",
        "data buffers",
        "views",
        "activations",
    }
    text = str(est)
    assert "\n" not in text and "run-steps" in text and "MB" in text
    # the largest term names its field: the History of a long run is driven by steps
    long = resources.estimate(preset("figure1", steps=10**9))
    assert (long.field, long.value) == ("steps", 10**9)
    assert max(long.breakdown, key=long.breakdown.get) == "loss history"
    wide = resources.estimate(preset("figure1", m=100_000))
    assert (wide.field, wide.value) == ("m", 100_000)


def test_estimate_batches_like_sweep_run():
    a = [preset("smoke", seed=s) for s in range(6)]
    b = [preset("smoke", m=24, seed=s) for s in range(2)]
    est = resources.estimate(a + b)
    assert est.batches == 2 and est.run_steps == 8 * 301
    assert est.bytes == resources.estimate(a).bytes  # the larger batch sets the peak
    chunked = resources.estimate(a + b, max_batch=3)
    assert chunked.batches == 3 and chunked.bytes < est.bytes
    assert [len(x) for x in resources.batches(a + b, max_batch=4)] == [4, 2, 2]
    # the (overrides, Config) points of sweep.grid are accepted as they are
    assert resources.estimate([({}, c) for c in a]).bytes == resources.estimate(a).bytes
    with pytest.raises(ConfigError):
        resources.estimate([])
    with pytest.raises(ConfigError, match="max_batch=-1"):
        resources.estimate(a, max_batch=-1)  # sweep.run would train nothing
    assert resources.estimate(a, max_batch=0).batches == 1  # 0: no chunking, as in sweep.run


def test_check_refuses_with_one_line_naming_estimate_limit_and_field(monkeypatch):
    monkeypatch.delenv(resources.ENV_VAR, raising=False)
    c = preset("figure1", steps=10**12)  # the input
    with pytest.raises(ResourceError) as err:
        resources.check(c)
    e = err.value
    msg = str(e)
    assert "\n" not in msg and "steps=1000000000000" in msg and "4 TB" in msg
    assert "MemAvailable" in msg or "memory" in msg
    assert e.field == "steps" and e.field_value == 10**12 and e.value > e.limit > 0
    assert "steps <= " in msg and " would fit" in msg
    # the value said to fit does fit
    fit = int(msg.split("steps <= ")[1].split()[0])
    assert resources.check(c.replace(steps=fit), limit=e.limit).bytes <= e.limit
    # a small limit refuses an ordinary run; the limit is in the message
    with pytest.raises(ResourceError, match=r"limit of 10 MB \(the limit given\)") as err:
        resources.check([preset("figure1", seed=s) for s in range(8)], limit=10e6)
    assert err.value.limit == 10_000_000 and err.value.value > 10e6
    assert "runs=8" in str(err.value) or err.value.field != "runs"
    assert resources.check(preset("smoke"), limit=1e9).bytes < 1e9


def test_check_reads_the_environment_variable(monkeypatch):
    monkeypatch.setenv(resources.ENV_VAR, "20M")
    assert resources.available_memory() == 20 << 20
    with pytest.raises(ResourceError, match=r"IMBACL_MAX_MEMORY") as err:
        resources.check(preset("figure1", m=3000))
    assert err.value.limit == 20 << 20 and err.value.field == "m"
    monkeypatch.setenv(resources.ENV_VAR, "8000000000")
    assert resources.available_memory() == 8_000_000_000
    assert resources.check(preset("figure1")).bytes < 8e9
    for bad in ("lots", "-5", "0", "1e400", "nanG", "8X", "G"):
        monkeypatch.setenv(resources.ENV_VAR, bad)
        with pytest.raises(ConfigError) as err:
            resources.available_memory()
        assert err.value.field == "IMBACL_MAX_MEMORY" and err.value.value == bad
        assert str(err.value).startswith(f"IMBACL_MAX_MEMORY={bad!r} is invalid: ")
    monkeypatch.delenv(resources.ENV_VAR)
    got, source = resources.system_memory()
    assert resources.available_memory() == got > 0 and source
    with pytest.raises(ConfigError):
        resources.check(preset("smoke"), limit=-1)


def test_parse_bytes():
    assert resources.parse_bytes("8G") == 8 << 30 and resources.parse_bytes("512MiB") == 512 << 20
    assert resources.parse_bytes("1.5T") == 3 << 39 and resources.parse_bytes("123") == 123
    assert resources.parse_bytes(" 64kb ") == 64 << 10


_REFUSE = """
import re, time
from imbacl import preset, resources
from imbacl.errors import ResourceError
hwm = lambda: int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
before, t = hwm(), time.perf_counter()
for c in (preset("figure1", m=1_000_000), preset("figure1", d1=2 ** 20),
          preset("figure1", batch=2 ** 20), preset("figure1", seq_len=2 ** 16),
          preset("figure1", resample=1e6, batch=2048)):
    try:
        resources.check(c, limit=8e9)
        raise SystemExit(f"not refused: {c}")
    except ResourceError as err:
        assert err.field in ("m", "d1", "batch", "seq_len", "resample"), err.field
print(time.perf_counter() - t, hwm() - before)
"""


def test_huge_sizes_are_refused_without_allocating():
    # in a fresh process, so that its high-water mark is not already above what a refusal
    # that allocated would reach
    out = subprocess.run(
        [sys.executable, "-c", _REFUSE], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:] + out.stdout[-2000:]
    seconds, grown_kb = out.stdout.split()[-2:]
    assert float(seconds) < 2
    assert int(grown_kb) < 20_000


def test_rate_and_time():
    f1 = resources.rate()
    assert f1 > 100
    assert resources.rate(preset("figure1", m=300)) < f1 / 5  # work scales with m d1 K L
    est = resources.estimate([preset("figure1", seed=s) for s in range(8)])
    assert est.seconds == pytest.approx(8 * 3001 / f1, rel=1e-9)
