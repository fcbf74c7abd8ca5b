"""The per-run measures chapter 5 adds to imbacl.metrics, on hand-built projections."""

import numpy as np

from imbacl import metrics


def _P():
    # 2 runs, 4 neurons, d = 3 features, d1 = 5; run 0: pure neurons on features 0, 0, 1 and a
    # mixed one; run 1: every neuron on feature 0
    P = np.zeros((2, 4, 5))
    P[0, 0, 0], P[0, 1, 0], P[0, 2, 1] = 2.0, 1.0, 3.0
    P[0, 3, :2] = 1.0
    P[1, :, 0] = [1.0, 2.0, 3.0, 4.0]
    return P


def test_features_covered_counts_features_with_a_pure_neuron():
    assert metrics.features_covered(_P(), 3).tolist() == [2, 1]


def test_min_pure_count_is_the_smallest_over_features():
    P = _P()
    assert metrics.min_pure_count(P, 3).tolist() == [0, 0]
    P[0, 3] = [0, 0, 1.0, 0, 0]  # feature 2 now has a pure neuron too
    assert metrics.min_pure_count(P, 3)[0] == 1


def test_pure_share_counts_neurons_pure_for_some_feature():
    assert np.allclose(metrics.pure_share(_P(), 3), [0.75, 1.0])  # run 0: the mixed neuron is not
