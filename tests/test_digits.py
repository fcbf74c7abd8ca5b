"""The real data source (imbacl/sources.py; its measurements, imbacl/digits.py; chapter 12):
scikit-learn's digits as token sequences, the long-tailed pool, the balanced probe set, the
masked views, the Config fields that select it, and the command line on it."""

import json

import numpy as np
import pytest
import torch

import imbacl
from imbacl import Config, data, digits, preset
from imbacl.config import DIGITS_POOL, parse_value
from imbacl.errors import ConfigError
from imbacl.sources import DigitsStream

from conftest import imbacl_cli
from imbacl.stream import CHUNK_STEPS

BASE = preset("digits", steps=40, m=8, batch=8)


def test_patches_are_the_four_quadrants_and_unpatch_inverts_them():
    imgs = np.arange(2 * 64, dtype=float).reshape(2, 8, 8)
    tok = digits.patches(imgs)
    assert tok.shape == (2, 4, 16)
    assert np.array_equal(tok[0, 0], imgs[0, :4, :4].ravel())
    assert np.array_equal(tok[0, 1], imgs[0, :4, 4:].ravel())
    assert np.array_equal(tok[0, 2], imgs[0, 4:, :4].ravel())
    assert np.array_equal(tok[1, 3], imgs[1, 4:, 4:].ravel())
    assert np.array_equal(digits.unpatch(tok), imgs)


@pytest.mark.parametrize(
    "f, small", [(1.0, 100), (0.3, 30), (0.1, 10), (0.03, 3), (0.005 + 1e-9, 1)]
)
@pytest.mark.parametrize("seed", [0, 1, 5])
def test_the_pool_has_the_requested_per_class_counts(f, small, seed):
    c = BASE.replace(minority_frac=f, seed=seed)
    pool = digits.pool_indices(c)
    counts = np.bincount(digits.images()[1][pool], minlength=10)
    rare = digits.rare_classes(seed)
    assert DIGITS_POOL == 100
    expected = [small if k in rare else 100 for k in range(10)]
    assert counts.tolist() == expected == digits.class_sizes(c).tolist()
    assert len(np.unique(pool)) == len(pool)  # no image twice
    assert c.rho == pytest.approx(f)  # rho_data = f


def test_pools_are_nested_in_f_and_rare_classes_rotate_in_complementary_pairs():
    pools = [set(digits.pool_indices(BASE.replace(minority_frac=f, seed=3))) for f in digits.FRACS]
    assert all(small <= big for big, small in zip(pools, pools[1:]))  # f falls along FRACS
    times_rare = np.zeros(10, int)
    for k in range(4):
        a, b = set(digits.rare_classes(2 * k)), set(digits.rare_classes(2 * k + 1))
        assert len(a) == len(b) == 5 and a | b == set(range(10)) and not a & b
        times_rare[list(a | b)] += 1
    assert times_rare.tolist() == [4] * 10  # every digit rare in half of seeds 0-7
    assert digits.class_order(BASE)[5:] == digits.rare_classes(0)


@pytest.mark.parametrize("seed", range(4))
def test_the_probe_set_is_balanced_and_disjoint_from_the_pool(seed):
    fit, score = digits.probe_indices(seed)
    y = digits.images()[1]
    half = digits.PROBE_PER_CLASS // 2
    assert np.bincount(y[fit]).tolist() == np.bincount(y[score]).tolist() == [half] * 10
    probe = set(fit) | set(score)
    assert len(probe) == 10 * digits.PROBE_PER_CLASS
    for f in digits.FRACS:  # the largest pool (f = 1) holds every smaller one
        assert not probe & set(digits.pool_indices(BASE.replace(minority_frac=f, seed=seed)))


def test_tokens_are_centred_and_scaled_by_the_pool():
    c = BASE.replace(minority_frac=0.1, seed=2)
    X = digits.run_tokens(c, digits.pool_indices(c)).astype(np.float64)
    assert X.shape[1:] == (4, 16)
    assert np.abs(X.mean(0)).max() < 1e-5
    assert (X**2).sum(-1).mean() == pytest.approx(1.0, rel=1e-5)


def test_the_views_follow_the_synthetic_masking_rule():
    """The digits stream's views are imbacl.data.views of the run's tokens under the mask that
    imbacl.data.random_mask (the synthetic views' mask) draws from the run's generator, once
    the step's image positions are drawn; and they are the same alone and in a batch."""
    c = BASE.replace(minority_frac=0.3, seed=4)
    other = BASE.replace(minority_frac=1.0, seed=9)
    both = DigitsStream([other, c])
    alone = DigitsStream([c])
    V = [(alone.next(), both.next()) for _ in range(CHUNK_STEPS)]
    gen = data.generator(c.seed, "data")
    pool = torch.as_tensor(digits.pool_indices(c))
    pos = torch.randint(0, len(pool), (CHUNK_STEPS, c.batch), generator=gen)
    mask = data.random_mask((CHUNK_STEPS, c.batch, c.seq_len, c.d1), gen)
    X = torch.as_tensor(digits.run_tokens(c))[pool[pos]]
    V1, V2 = data.views(X, mask)
    for t, ((a1, a2, w), (b1, b2, _)) in enumerate(V):
        assert w is None
        assert torch.equal(a1[0], V1[t]) and torch.equal(a2[0], V2[t])
        assert torch.equal(b1[1], V1[t]) and torch.equal(b2[1], V2[t])
    assert torch.equal(V1 + V2, 2 * X)  # the views average back to the tokens
    assert set(torch.unique(mask).tolist()) == {0.0, 1.0} and abs(mask.mean() - 0.5) < 0.02
    idx, mask2, X2 = digits.draws(c, CHUNK_STEPS)
    assert torch.equal(mask2, mask) and torch.equal(X2, X)
    assert np.array_equal(idx, pool[pos].numpy())


def test_known_reweighting_weights_minority_images_by_one_over_f():
    c = BASE.replace(minority_frac=0.1, seed=0, reweight="known")
    s = DigitsStream([c, c.replace(reweight="none")])
    _, _, w = s.next()
    y = digits.images()[1][s.idx[0, 0].numpy()]
    rare = np.isin(y, digits.rare_classes(0))
    assert np.allclose(w[0].numpy(), np.where(rare, 10.0, 1.0))
    assert torch.equal(w[1], torch.ones_like(w[1]))


def test_a_digits_run_trains_alone_as_in_a_batch():
    cs = [BASE.replace(seed=1, minority_frac=0.03), BASE.replace(seed=2, lam=0.01)]
    both = imbacl.train(cs, threads=1)
    alone = imbacl.train(cs[0], threads=1)
    assert np.array_equal(both.P[0], alone.P[0]) and np.isfinite(both.loss).all()
    with pytest.raises(ConfigError, match="compile=True is invalid with source=digits"):
        imbacl.train(cs[0], threads=1, compile=True)


def test_the_dedicated_rule_and_the_group_means():
    rates = np.zeros((2, 3, 10))
    rates[0, 0, 4] = 0.9  # fires on most 4s and nothing else: dedicated to 4
    rates[0, 1, :] = 0.6  # fires on everything: dedicated to none
    rates[1, 2, 7], rates[1, 2, 1] = 0.3, 0.1  # share 0.75 but only 30% of the 7s
    ded = digits.dedicated(rates)
    assert ded.sum() == 1 and ded[0, 0, 4]
    assert not digits.dedicated(rates, alive=np.array([False, True, True])).any()
    per_class = np.arange(20, dtype=float).reshape(2, 10)
    maj, mino = digits.by_group(per_class, np.array([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]))
    assert maj.tolist() == [7.0, 12.0] and mino.tolist() == [2.0, 17.0]


def test_whole_neurons_count_a_neuron_once_and_selectivity_counts_living_neurons():
    ded = np.zeros((2, 3, 10), bool)
    ded[0, 0, 4] = ded[1, 0, 4] = True  # both halves of neuron 0 dedicated to 4: one neuron
    ded[1, 1, 4] = True
    ded[0, 2, 7], ded[1, 2, 1] = True, True  # one neuron, two digits: once for each
    assert ded.sum((0, 1))[[1, 4, 7]].tolist() == [1, 3, 1]
    assert digits.whole_neurons(ded)[[1, 4, 7]].tolist() == [1, 2, 1]
    rates = np.zeros((2, 2, 10))
    rates[0, 0, 3] = 0.8  # neuron 0 answers one digit: share 1
    rates[0, 1, :] = 0.5  # neuron 1 answers all ten: share 0.1
    assert digits.selectivity(rates) == pytest.approx(0.55)
    assert digits.selectivity(rates, np.array([True, False])) == pytest.approx(1.0)
    assert digits.selectivity(rates, np.array([False, False])) == 0.0


def _rec(keyed: dict, seeds, **arrays):
    """A cached-sweep-like record: configs (fields ``keyed`` per run) in the given seed order."""
    configs = [BASE.replace(seed=s, **kw) for kw in keyed for s in seeds]
    return {"configs": configs, **arrays}


def test_select_returns_runs_in_seed_order_whatever_the_saved_order():
    seeds = [3, 0, 2, 1]  # saved out of order, as a remedy cache might be
    rec = _rec([dict(minority_frac=0.03), dict(minority_frac=1.0)], seeds,
               value=np.array(seeds + [10 + s for s in seeds]))  # fmt: skip
    assert digits.select(rec, "value", minority_frac=0.03).tolist() == [0, 1, 2, 3]
    assert digits.select(rec, "value", minority_frac=1.0).tolist() == [10, 11, 12, 13]
    treated, untreated = digits.select(rec, "value", minority_frac=0.03), np.arange(4)
    assert np.array_equal(treated, untreated)  # row k is seed k in both: paired


def test_last_gone_censors_seeds_with_nothing_to_lose_or_nothing_lost():
    lams = (0.001, 0.01, 0.1, 1.0)
    counts = np.array(
        [
            [3, 0, 2, 4],  # smallest lam: seed 1 has none (censored below)
            [1, 0, 0, 4],  # seed 0 loses its last at 0.1; seed 2 loses one, then regains
            [0, 0, 1, 2],
            [0, 0, 0, 1],  # seed 3 keeps one at the largest lam (censored above)
        ]
    )
    t = digits.last_gone(lams, counts)
    assert t[0] == 0.1 and t[2] == 1.0  # from 0.1 (seed 0) and 1.0 (seed 2) on: none
    assert np.isnan(t[1]) and np.isnan(t[3])


def test_lam_thresholds_pair_only_the_seeds_neither_group_censors():
    lams, seeds = digits.LAMS, range(4)
    ded = np.zeros((len(lams), 4, 10))
    rare = np.array([digits.rare_classes(s) for s in seeds])
    for s in seeds:
        maj = [c for c in range(10) if c not in rare[s]]
        ded[:4, s, maj[0]] = 2  # majority: gone from lams[4]
        if s != 2:  # seed 2's minority digits have no dedicated neuron at all
            ded[: 1 + s, s, rare[s][0]] = 1  # minority: gone from lams[1 + s]
    rec = _rec([dict(lam=x, minority_frac=0.3) for x in lams], seeds,
               dedicated=ded.reshape(-1, 10), rare=np.tile(rare, (len(lams), 1)))  # fmt: skip
    out = digits.lam_thresholds(rec, 0.3)
    assert out["maj"][:, 0].tolist() == [2, 2, 2, 2, 0, 0]
    assert out["kept"].tolist() == [True, True, False, True]
    assert out["lam_maj"].tolist() == [lams[4]] * 4
    assert out["lam_min"][[0, 1, 3]].tolist() == [lams[1], lams[2], lams[4]]


def test_stage1_growth_reads_the_norms_at_a_snapshot_over_step_0():
    seeds = range(2)
    norms = np.ones((2, 3, 4))
    norms[:, 1] = [[2, 4, 8, 16], [1, 1, 1, 1]]
    norms[:, 2] = 32
    rec = _rec([dict(minority_frac=1.0)], seeds, atom_norms=norms, class_norms=norms / 2,
               snapshots=np.array([0, 100, 2000]))  # fmt: skip
    assert digits.stage1_growth(rec, 1.0, 100).tolist() == [[2, 4, 8, 16], [1, 1, 1, 1]]
    got = digits.stage1_growth(rec, 1.0, 100, key="class_norms")
    assert got.tolist() == [[2, 4, 8, 16], [1, 1, 1, 1]]
    share = digits.growth_share(rec, 1.0, 100)
    assert share == pytest.approx([np.log([2, 4, 8, 16]).mean() / np.log(32), 0.0])


def test_class_directions_are_unit_class_means_and_class_norms_read_them():
    c = BASE.replace(minority_frac=0.1, seed=1)
    U = digits.class_directions(c)
    assert U.shape == (10, 4, 16)
    assert np.allclose(np.linalg.norm(U, axis=(1, 2)), 1.0)
    idx = digits.probe_set(1)
    y, X = digits.images()[1][idx], digits.run_tokens(c, idx).astype(float)
    mean3 = X[y == 3].mean(0)
    assert np.allclose(U[3], mean3 / np.linalg.norm(mean3))
    W = np.random.default_rng(0).normal(size=(5, 8, 16))  # (snapshots, m, d1)
    expected = np.sqrt(sum(((W @ U[3, pos]) ** 2).sum(-1) for pos in range(4)))
    assert np.allclose(digits.class_norms(W, U)[:, 3], expected)
    assert np.allclose(digits.class_norms(2 * W, U), 2 * digits.class_norms(W, U))


def _one_line(text):
    return text.strip().count("\n") == 0 and text.strip()


@pytest.mark.parametrize(
    "kw, field, says",
    [
        (dict(source="mnist"), "source", "must be one of synthetic, digits"),
        (dict(source=3), "source", "must be one of"),
        (dict(minority_frac=0.5), "minority_frac", "must be 1 unless source=digits"),
        (dict(source="digits"), "source", "--preset digits"),
    ],
)
def test_the_source_fields_are_validated_in_one_line(kw, field, says):
    with pytest.raises(ConfigError) as e:
        Config(**kw)
    assert e.value.field == field and says in str(e.value) and _one_line(str(e.value))
    assert str(e.value).startswith(f"{field}=")


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(minority_frac=0.0), "minority_frac"),
        (dict(minority_frac=1.5), "minority_frac"),
        (dict(minority_frac=float("nan")), "minority_frac"),
        (dict(minority_frac=0.004), "minority_frac"),
        (dict(minority_frac="0.1"), "minority_frac"),
        (dict(resample=2.0), "resample"),
        (dict(d1=36), "source"),
        (dict(eps=(0.1,) * 10), "eps"),
        (dict(n_majority=3), "n_majority"),
    ],
)
def test_bad_digits_configs_name_their_field(kw, field):
    with pytest.raises(ConfigError) as e:
        BASE.replace(**kw)
    assert e.value.field == field and _one_line(str(e.value))


def test_digits_preset_and_parse_value():
    c = preset("digits", minority_frac=0.03)
    assert (c.source, c.d, c.d1, c.seq_len, c.freqs[-1]) == ("digits", 10, 16, 4, 0.03)
    assert parse_value("source", "digits") == "digits"
    assert parse_value("minority_frac", "0.1") == 0.1
    assert c.shape_key != preset("figure1").shape_key
    assert Config(**c.to_dict()) == c


def _cli(*args):
    return imbacl_cli(*args, timeout=300, IMBACL_THREADS="1")


def test_the_cli_trains_on_the_digits_and_prints_finite_json():
    p = _cli(
        "run", "--preset", "digits", "--set", "minority_frac=0.03", "--set", "steps=60",
        "--seeds", "2", "--json",
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["config"]["source"] == "digits" and out["config"]["minority_frac"] == 0.03
    for r in out["runs"]:
        assert np.isfinite(r["loss_final"]) and np.isfinite(r["feature_energy"])
        assert len(r["pure_per_feature"]) == 10 and sorted(r["majority"] + r["minority"]) == list(
            range(10)
        )
        assert sorted(r["pool_sizes"]) == [3] * 5 + [100] * 5
    text = _cli("run", "--preset", "digits", "--set", "steps=30")
    assert text.returncode == 0 and "pure/min" in text.stdout


@pytest.mark.parametrize(
    "args, says",
    [
        (("--set", "source=digits"), "source='digits' is invalid"),
        (("--preset", "digits", "--set", "source=mnist"), "source='mnist' is invalid"),
        (("--preset", "digits", "--set", "minority_frac=2"), "minority_frac=2.0 is invalid"),
        (("--preset", "digits", "--set", "minority_frac=x"), "not a number"),
        (("--preset", "digits", "--compile"), "compile=True is invalid"),
    ],
)
def test_bad_values_on_the_command_line_give_one_line(args, says):
    p = _cli("run", *args, "--set", "steps=5")
    assert p.returncode == 2 and says in p.stderr and _one_line(p.stderr), p.stderr
