import math

import numpy as np
import torch

from imbacl import Config, data


def test_dictionary_is_orthogonal_and_seeded():
    M = data.dictionary(20, data.generator(5, "dictionary"))
    assert torch.allclose(M.T @ M, torch.eye(20), atol=1e-5)
    assert torch.equal(M, data.dictionary(20, data.generator(5, "dictionary")))
    assert not torch.equal(M, data.dictionary(20, data.generator(6, "dictionary")))


def test_feature_frequencies_within_binomial_bound():
    eps = torch.tensor([0.3, 0.1, 0.03, 0.01])
    n = 200_000
    z = data.sample_sparse(eps, (n,), data.generator(0, "data"))
    assert set(torch.unique(z).tolist()) <= {-1.0, 0.0, 1.0}
    freq = (z != 0).float().mean(0).numpy()
    for e, f in zip(eps.numpy(), freq):
        assert abs(f - e) < 4 * math.sqrt(e * (1 - e) / n), (e, f)      # 4 sigma
    plus = (z > 0).float().sum(0) / (z != 0).float().sum(0)
    assert np.all(np.abs(plus.numpy() - 0.5) < 0.02)                     # signs are fair


def test_mask_is_fair_and_views_average_back():
    g = data.generator(1, "data")
    mask = data.random_mask((1000, 70), g)
    assert set(torch.unique(mask).tolist()) == {0.0, 1.0}
    assert abs(mask.mean().item() - 0.5) < 4 * math.sqrt(0.25 / mask.numel())
    X = torch.randn(1000, 70, generator=g)
    v1, v2 = data.views(X, mask)
    assert torch.allclose((v1 + v2) / 2, X)
    assert torch.all((v1 == 0) | (v2 == 0))                              # disjoint coordinates


def test_stream_runs_are_independent_of_their_batch():
    cs = [Config(d=4, d1=8, n_majority=2, seq_len=2, batch=4, seed=s) for s in (0, 1)]
    M = torch.stack([data.dictionary(8, data.generator(c.seed, "dictionary")) for c in cs])
    both = data.DataStream(cs, M)
    alone = data.DataStream(cs[1:], M[1:])
    for _ in range(data.CHUNK_STEPS + 3):
        a, b = both.next(), alone.next()
        assert torch.equal(a[0][1], b[0][0]) and torch.equal(a[1][1], b[1][0])


def test_stream_matches_the_reference_sampler_for_any_workers_and_block():
    # The stream's fast path (threads per run, blocks of steps, numpy bit unpacking) must give
    # the numbers that sample_sequences + random_mask + views give for the same generator.
    cs = [Config(d=5, d1=40, n_majority=2, seq_len=3, batch=4, seed=s, eps_max=0.3, eps_min=0.2) for s in (0, 1, 2)]
    M = torch.stack([data.dictionary(40, data.generator(c.seed, "dictionary")) for c in cs])
    streams = [data.DataStream(cs, M, workers=w) for w in (1, 2)]
    streams[1].block = 2                                       # several blocks per chunk
    chunks = [[s.next() for _ in range(data.CHUNK_STEPS)] for s in streams]
    for r, c in enumerate(cs):
        g = data.generator(c.seed, "data")
        X, _ = data.sample_sequences(M[r], torch.tensor(c.freqs), c.sigma,
                                     (data.CHUNK_STEPS, c.batch, c.seq_len), g)
        v1, v2 = data.views(X, data.random_mask(tuple(X.shape), g))
        for t in range(data.CHUNK_STEPS):
            for got in chunks:
                assert torch.allclose(got[t][0][r], v1[t], atol=1e-6)
                assert torch.allclose(got[t][1][r], v2[t], atol=1e-6)
    for a, b in zip(*chunks):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for s in streams:
        s.close()


def test_mask_unpacking_is_the_same_by_numpy_and_by_shifts():
    # the CPU path (numpy) and the device path (torch shifts) must read the same bits
    g = torch.Generator().manual_seed(3)
    words = torch.randint(0, 2 ** 32, (5, 7, 2), generator=g, dtype=torch.int64)
    c = Config(d=5, d1=40, n_majority=2)
    stream = data.DataStream([c], torch.eye(40)[None])
    bits = ((words.unsqueeze(-1) >> torch.arange(32)) & 1).flatten(-2)[..., :40].float()
    assert torch.equal(stream._unpack(words), bits)


def test_raw_draws_give_the_views_the_stream_gives():
    # the compiled trainer makes the views itself from next_draws(): the same draws, in the same
    # order, and the same per-pair weights as next() (here with re-sampling and known weights)
    cs = [Config(d=5, d1=40, n_majority=2, seq_len=3, batch=4, seed=s, resample=2.0,
                 reweight="known") for s in (0, 1)]
    M = torch.stack([data.dictionary(40, data.generator(c.seed, "dictionary")) for c in cs])
    views, draws = data.DataStream(cs, M), data.DataStream(cs, M)
    for _ in range(data.CHUNK_STEPS + 3):
        V1, V2, w = views.next()
        u, xi, words, w2 = draws.next_draws()
        D1, D2 = data.pair_views(u, xi, data.unpack_bits(words, 40), draws.eps, M, draws.sigma)
        assert torch.equal(V1, D1) and torch.equal(V2, D2) and torch.equal(w, w2)
