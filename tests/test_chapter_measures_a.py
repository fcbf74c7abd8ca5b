"""The measures chapters 1-6 moved into imbacl.metrics, against hand computations on tiny,
hand-built inputs."""

import math

import numpy as np
import pytest

from imbacl import metrics

# 2 seeds, 4 snapshots, m = 3 neurons, d = 2 features (1 majority, 1 minority), d1 = 3
FREQS, INIT_STD, EPS_MAX, D, N_MAJ = (0.1, 0.05), 0.01, 0.1, 2, 1
IT1, IT2 = [1, 1], [2, 3]


def _inputs():
    rng = np.random.default_rng(0)
    P = rng.normal(size=(2, 4, 3, 3))
    # thresholds at init: 0.0118 (majority feature 0), 0.0235 (minority feature 1)
    P[0, 0] = [[0.02, 0, 0], [0, 0.03, 0], [0.001, 0.001, 0]]  # lucky (0, 0), (1, 1)
    P[1, 0] = [[0.012, 0, 0], [0.015, 0.025, 0], [0, 0, 0.01]]  # (0, 0), (1, 0), (1, 1)
    norms = rng.uniform(0.5, 2.0, size=(2, 4, 3))  # not ||P||: used as given
    return P, norms


def _measures():
    P, norms = _inputs()
    return metrics.stage2_measures(P, norms, IT1, IT2, D, N_MAJ, FREQS, INIT_STD, EPS_MAX)


def _cos2(row, j):
    return row[j] ** 2 / sum(x**2 for x in row)


def test_lucky_counts_by_hand():
    out = _measures()
    assert out["lucky_maj"].tolist() == [1.0, 2.0]
    assert out["lucky_min"].tolist() == [1.0, 1.0]


def test_gain_of_a_single_lucky_pair_by_hand():
    P, norms = _inputs()
    P[0, 0] = [[0.02, 0, 0], [0, 0, 0], [0, 0, 0]]  # only pair (0, 0)
    P[0, 2, 0] = [3.0, 4.0, 0.0]
    norms[0, 1, 0] = 2.0
    out = metrics.stage2_measures(P, norms, IT1, IT2, D, N_MAJ, FREQS, INIT_STD, EPS_MAX)
    assert out["gain"][0] == pytest.approx(9.0 / 4.0 / 2.0)  # 3^2 / 2^2 / (2 * 1)
    assert out["cos2_lucky"][0] == pytest.approx(9.0 / 25.0)
    assert out["aligned_lucky"][0] == 0.0  # 0.36 < 1/2


def test_every_measure_matches_a_loop_over_seeds_neurons_and_features():
    P, norms = _inputs()
    out = _measures()
    assert list(out) == [
        "lucky_maj",
        "lucky_min",
        "cos2_lucky",
        "aligned_lucky",
        "aligned_others",
        "gain",
        "dominant_end",
        "excess",
        "noise_T1",
        "noise_T2",
        "norm_gain",
        "min_best_T2",
        "min_best_end",
        "min_aligned_end",
    ]
    thr = [EPS_MAX / f * math.sqrt(2 * math.log(D)) * INIT_STD for f in FREQS]
    for s in range(2):
        Pi, Pt, Pe = P[s, IT1[s]].tolist(), P[s, IT2[s]].tolist(), P[s, -1].tolist()
        pairs = [(i, j) for i in range(3) for j in range(D) if abs(P[s, 0, i, j]) >= thr[j]]
        others = [i for i in range(3) if all(p[0] != i for p in pairs)]
        c2 = [_cos2(Pt[i], j) for i, j in pairs]
        want = {
            "cos2_lucky": np.median(c2),
            "aligned_lucky": np.mean([c >= 0.5 for c in c2]),
            "aligned_others": np.mean(
                [max(_cos2(Pt[i], j) for j in range(D)) >= 0.5 for i in others]
            ),
            "gain": np.median(
                [
                    Pt[i][j] ** 2 / norms[s, IT1[s], i] ** 2 / (2 * FREQS[j] / EPS_MAX)
                    for i, j in pairs
                ]
            ),
            "dominant_end": np.mean([int(np.argmax(np.abs(Pe[i][:D]))) == j for i, j in pairs]),
            "excess": max(
                max(max(abs(Pt[i][k]) - abs(Pi[i][k]), 0) for k in range(D, 3))
                / math.sqrt(sum(x**2 for x in Pt[i]))
                for i in range(3)
            ),
            "noise_T1": 1 - np.mean([sum(_cos2(Pi[i], j) for j in range(D)) for i in range(3)]),
            "noise_T2": 1 - np.mean([sum(_cos2(Pt[i], j) for j in range(D)) for i in range(3)]),
            "norm_gain": np.median([norms[s, IT2[s], i] / norms[s, IT1[s], i] for i in range(3)]),
            "min_best_T2": max(_cos2(Pt[i], 1) for i in range(3)),
            "min_best_end": max(_cos2(Pe[i], 1) for i in range(3)),
            "min_aligned_end": sum(_cos2(Pe[i], 1) >= 0.5 for i in range(3)),
        }
        for key, value in want.items():
            assert out[key][s] == pytest.approx(value, rel=1e-12, abs=1e-15), (key, s)
