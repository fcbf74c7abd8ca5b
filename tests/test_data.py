import math

import numpy as np
import pytest
import torch

from imbacl import Config, data, fast, stream


def test_dictionary_is_orthogonal_and_seeded():
    M = data.dictionary(20, stream.generator(5, "dictionary"))
    assert torch.allclose(M.T @ M, torch.eye(20), atol=1e-5)
    assert torch.equal(M, data.dictionary(20, stream.generator(5, "dictionary")))
    assert not torch.equal(M, data.dictionary(20, stream.generator(6, "dictionary")))


def test_feature_frequencies_within_binomial_bound():
    eps = torch.tensor([0.3, 0.1, 0.03, 0.01])
    n = 200_000
    z = data.sample_sparse(eps, (n,), stream.generator(0, "data"))
    assert set(torch.unique(z).tolist()) <= {-1.0, 0.0, 1.0}
    freq = (z != 0).float().mean(0).numpy()
    for e, f in zip(eps.numpy(), freq):
        assert abs(f - e) < 4 * math.sqrt(e * (1 - e) / n), (e, f)  # 4 sigma
    plus = (z > 0).float().sum(0) / (z != 0).float().sum(0)
    assert np.all(np.abs(plus.numpy() - 0.5) < 0.02)  # signs are fair


def test_mask_is_fair_and_views_average_back():
    g = stream.generator(1, "data")
    mask = data.random_mask((1000, 70), g)
    assert set(torch.unique(mask).tolist()) == {0.0, 1.0}
    assert abs(mask.mean().item() - 0.5) < 4 * math.sqrt(0.25 / mask.numel())
    X = torch.randn(1000, 70, generator=g)
    v1, v2 = data.views(X, mask)
    assert torch.allclose((v1 + v2) / 2, X)
    assert torch.all((v1 == 0) | (v2 == 0))  # disjoint coordinates


def test_stream_runs_are_independent_of_their_batch():
    cs = [Config(d=4, d1=8, n_majority=2, seq_len=2, batch=4, seed=s) for s in (0, 1)]
    M = torch.stack([data.dictionary(8, stream.generator(c.seed, "dictionary")) for c in cs])
    both = stream.DataStream(cs, M)
    alone = stream.DataStream(cs[1:], M[1:])
    for _ in range(stream.CHUNK_STEPS + 3):
        a, b = both.next(), alone.next()
        assert torch.equal(a[0][1], b[0][0]) and torch.equal(a[1][1], b[1][0])


def test_stream_matches_the_reference_sampler_for_any_workers_and_block():
    # The stream's fast path (threads per run, blocks of steps, numpy bit unpacking) must give
    # the numbers that sample_sequences + random_mask + views give for the same generator.
    cs = [
        Config(d=5, d1=40, n_majority=2, seq_len=3, batch=4, seed=s, eps_max=0.3, eps_min=0.2)
        for s in (0, 1, 2)
    ]
    M = torch.stack([data.dictionary(40, stream.generator(c.seed, "dictionary")) for c in cs])
    streams = [stream.DataStream(cs, M, workers=w) for w in (1, 2)]
    streams[1].block = 2  # several blocks per chunk
    chunks = [[s.next() for _ in range(stream.CHUNK_STEPS)] for s in streams]
    for r, c in enumerate(cs):
        g = stream.generator(c.seed, "data")
        X, _ = data.sample_sequences(
            M[r], torch.tensor(c.freqs), c.sigma, (stream.CHUNK_STEPS, c.batch, c.seq_len), g
        )
        v1, v2 = data.views(X, data.random_mask(tuple(X.shape), g))
        for t in range(stream.CHUNK_STEPS):
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
    words = torch.randint(0, 2**32, (5, 7, 2), generator=g, dtype=torch.int64)
    bits = ((words.unsqueeze(-1) >> torch.arange(32)) & 1).flatten(-2)[..., :40].float()
    assert torch.equal(data.unpack_bits(words, 40), bits)
    shifted = torch.compile(data.unpack_bits, backend="eager", fullgraph=True)(words, 40)
    assert torch.equal(shifted, bits)  # the compiled path's shifts


def test_raw_draws_give_the_views_the_stream_gives():
    # the compiled trainer makes the views itself from next_draws(): the same draws, in the same
    # order, and the same per-pair weights as next() (here with re-sampling and known weights)
    cs = [
        Config(d=5, d1=40, n_majority=2, seq_len=3, batch=4, seed=s, resample=2.0, reweight="known")
        for s in (0, 1)
    ]
    M = torch.stack([data.dictionary(40, stream.generator(c.seed, "dictionary")) for c in cs])
    views, draws = stream.DataStream(cs, M), stream.DataStream(cs, M)
    for _ in range(stream.CHUNK_STEPS + 3):
        V1, V2, w = views.next()
        u, xi, words, w2 = draws.next_draws()
        D1, D2 = data.pair_views(u, xi, data.unpack_bits(words, 40), draws.eps, M, draws.sigma)
        assert torch.equal(V1, D1) and torch.equal(V2, D2) and torch.equal(w, w2)


def test_c_draws_are_torchs_draws():
    # imbacl/draws.c (compile=True's data) draws what torch.rand, randn and randint would, from
    # the generator's state and back into it: u, mask words and the state bit for bit, and
    # normals up to the rounding of another log, sin and cos: a few float32 ulps of the radius
    # of each Box-Muller pair (torch's own angle 2 pi u is rounded once more than ours).
    c = fast.c_draws()
    assert c is not None
    for seed in (0, 3, 2**63 - 5):
        a, b = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        torch.rand(5, generator=a), torch.rand(5, generator=b)  # start mid-twister
        for n_u, n_xi, n_w in [(7, 16, 1), (1000, 640, 3), (36864, 147456, 8192)]:
            want = (
                torch.rand(n_u, generator=a),
                torch.randn(n_xi, generator=a),
                torch.randint(0, 2**32, (n_w,), generator=a),
            )
            got = (torch.empty(n_u), torch.empty(n_xi), torch.empty(n_w, dtype=torch.int64))
            fast.draw_like_torch(c, b, *got)
            assert torch.equal(got[0], want[0]) and torch.equal(got[2], want[2])
            pairs = want[1].reshape(-1, 2, 8)  # (x_j, x_j+8) share a radius
            radius = pairs.norm(dim=1, keepdim=True).expand_as(pairs).reshape(-1)
            ulp = torch.finfo(torch.float32).eps
            assert ((got[1] - want[1]).abs() <= 8 * ulp * radius.clamp(min=1)).all()
            assert torch.equal(a.get_state(), b.get_state())
    ok = (torch.empty(3), torch.empty(32), torch.empty(1, dtype=torch.int64))
    with pytest.raises(ValueError, match="xi has 20 numbers: must be a multiple of 16"):
        fast.draw_like_torch(c, a, ok[0], torch.empty(20), ok[2])
    with pytest.raises(
        ValueError, match="words is a torch.int32 tensor on cpu: must be a contiguous torch.int64"
    ):
        fast.draw_like_torch(c, a, *ok[:2], torch.empty(1, dtype=torch.int32))
    with pytest.raises(ValueError, match="u is a non-contiguous torch.float32"):
        fast.draw_like_torch(c, a, torch.empty(4, 2).T, *ok[1:])
    assert torch.equal(a.get_state(), b.get_state())  # a refused draw draws nothing


def test_stream_with_c_draws_keeps_every_uniform_and_mask_bit():
    # the C draws (compile=True's stream) change only the normals' last bits, over chunks (each
    # run's generator carried from one chunk's C draws to the next), and leaves a re-sampling run
    # (which draws with torch, from its own generator) as it was
    cs = [
        Config(d=5, d1=40, n_majority=2, seq_len=3, batch=4, seed=s, resample=r)
        for s, r in ((0, 1.0), (1, 2.0), (2, 1.0))
    ]
    M = torch.stack([data.dictionary(40, stream.generator(c.seed, "dictionary")) for c in cs])
    plain, c_stream = stream.DataStream(cs, M), fast.draw_stream(cs, M, workers=2)
    for _ in range(2 * stream.CHUNK_STEPS + 1):
        (u, xi, w, _), (u2, xi2, w2, _) = plain.next_draws(), c_stream.next_draws()
        assert torch.equal(u, u2) and torch.equal(w, w2) and torch.equal(xi[1], xi2[1])
        assert torch.allclose(xi, xi2, rtol=0, atol=1e-5) and not torch.equal(xi, xi2)
    c_stream.close()


def test_c_draws_fall_back_to_torch_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setattr(fast, "_C_DRAWS", {})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing built there yet
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    with pytest.warns(UserWarning, match="drawing with torch"):
        assert fast.c_draws() is None
    c = Config(d=5, d1=40, n_majority=2, seq_len=3, batch=4)
    c_stream = fast.draw_stream([c], torch.eye(40)[None])
    torch_stream = stream.DataStream([c], torch.eye(40)[None])
    assert torch.equal(c_stream.next_draws()[1], torch_stream.next_draws()[1])


def test_c_draws_built_once_for_threads_asking_at_once(monkeypatch, tmp_path):
    # the threads of a sweep may all start a compiled run at once: one build, one library
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(fast, "_C_DRAWS", {})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ThreadPoolExecutor(4) as pool:
            libs = list(pool.map(lambda _: fast.c_draws(), range(4)))
    assert libs[0] is not None and all(lib is libs[0] for lib in libs)
    assert [p.suffix for p in (tmp_path / "imbacl").iterdir()] == [".so"]  # no leftovers


def test_c_draws_refuse_a_cache_others_can_write_and_an_unknown_state(monkeypatch, tmp_path):
    monkeypatch.setattr(fast, "_C_DRAWS", {})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "imbacl").mkdir(mode=0o777)
    (tmp_path / "imbacl").chmod(0o777)  # past the umask
    with pytest.warns(UserWarning, match="not a directory only this user can write"):
        assert fast.c_draws() is None
    monkeypatch.setattr(fast, "_STATE_BYTES", 5055)  # a torch with another layout
    g = torch.Generator().manual_seed(0)
    with pytest.raises(RuntimeError, match="not the 5055 bytes draws.c knows"):
        fast.draw_like_torch(
            None, g, torch.empty(1), torch.empty(16), torch.empty(1, dtype=torch.int64)
        )
