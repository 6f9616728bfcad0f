"""Codebook learning, vocabulary and encode/decode on synthetic weights (the stage on real fields: test_tokens_stage)."""

from __future__ import annotations

import pytest
import torch

from nfgen_tui import config as cfgmod
from nfgen_tui.fields.layout import layout_from_config
from nfgen_tui.tokens import TokenError, Tokenizer, Vocabulary, fit_tokenizer
from nfgen_tui.tokens.kmeans import kmeans, nearest
from nfgen_tui.tokens.kmeans1d import kmeans1d

CENTRES = torch.tensor([-1.5, -0.4, 0.0, 0.3, 1.1, 2.5])


def clustered(centres: torch.Tensor, per: int, noise: float, seed: int = 0) -> torch.Tensor:
    """`per` noisy copies of each centre (rows), shuffled."""
    g = torch.Generator().manual_seed(seed)
    c = centres if centres.ndim == 2 else centres[:, None]
    x = c.repeat_interleave(per, 0) + noise * torch.randn(c.shape[0] * per, c.shape[1], generator=g)
    return x[torch.randperm(x.shape[0], generator=g)]


def reference_layout(hidden=(16, 16)):
    c = cfgmod.preset("quick")
    c.fields.hidden = list(hidden)
    return layout_from_config(c.fields)


def test_scalar_codebook_recovers_cluster_centres():
    x = clustered(CENTRES, 400, 0.01).flatten()
    res = kmeans1d(x, len(CENTRES), 50, init="kmeans++", seed=1)
    assert torch.allclose(res.centers, CENTRES, atol=0.005), res.centers
    assert res.counts.tolist() == [400] * len(CENTRES)
    assert res.distortion == pytest.approx(1e-4, rel=0.15)  # what is left is the noise variance


def test_vector_codebook_recovers_cluster_centres():
    centres = torch.tensor([[0.0, 0.0, 1.0], [1.0, -1.0, 0.0], [-2.0, 0.5, 0.5], [0.5, 2.0, -1.0]])
    res = kmeans(clustered(centres, 300, 0.02), 4, 50, seed=2)
    order = nearest(centres, res.centers)[0]
    assert sorted(order.tolist()) == [0, 1, 2, 3]
    assert torch.allclose(res.centers[order], centres, atol=0.01)


def test_fast_1d_lloyd_gives_the_plain_lloyd_answer():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(20_000, generator=g) ** 3  # heavy tails: codes spread unevenly
    init = x[:40].clone()
    fast = kmeans1d(x, 40, 8, init=init, tol=0.0)
    plain = kmeans(x[:, None], 40, 8, init=init[:, None], tol=0.0)
    assert fast.iters == plain.iters == 8
    assert torch.allclose(fast.centers, plain.centers.flatten().sort().values, rtol=1e-4, atol=1e-5)
    assert fast.distortion == pytest.approx(plain.distortion, rel=1e-4)


@pytest.mark.parametrize("fast", [True, False])
def test_dead_code_reassignment_leaves_no_unused_code(fast):
    centres = torch.linspace(-2, 2, 8)
    x = clustered(centres, 100, 0.02)
    init = torch.full((8, 1), 50.0) + torch.arange(8.0)[:, None]  # all codes far to one side: 7 start dead
    fn = (lambda **kw: kmeans1d(x.flatten(), 8, 40, init=init.flatten(), **kw)) if fast else \
        (lambda **kw: kmeans(x, 8, 40, init=init, **kw))
    kept = fn(dead_threshold=0)  # without reassignment the dead codes stay dead
    assert kept.dead == 7 and kept.reassigned == 0
    res = fn(dead_threshold=1)
    assert res.dead == 0 and int(res.counts.min()) > 0 and res.reassigned >= 7
    assert res.distortion < kept.distortion / 10


def test_dead_threshold_counts_rarely_used_codes():
    x = torch.cat([torch.zeros(1000), torch.ones(3)])  # a code serving 3 values sits below threshold 10
    res = kmeans1d(x, 2, 1, init=torch.tensor([0.0, 1.0]), dead_threshold=10)
    assert res.reassigned == 1


def test_scalar_encode_decode_of_codebook_values_is_exact():
    lay = reference_layout()
    g = torch.Generator().manual_seed(0)
    book = torch.sort(torch.randn(245, generator=g) * 0.3).values
    tok = Tokenizer("scalar", lay, [book], n_classes=10)
    codes = torch.randint(0, 245, (7, lay.n_params), generator=g)
    weights = book[codes]
    assert torch.equal(tok.encode(weights), codes)
    assert torch.equal(tok.decode(codes), weights)
    # values between codes go to the nearest one
    noisy = weights + 1e-3 * torch.randn(weights.shape, generator=g)
    dec = tok.decode(tok.encode(noisy))
    assert torch.all((dec - noisy).abs() <= (weights - noisy).abs() + 1e-7)


def test_reference_vocabulary_and_sequence_layout():
    lay = reference_layout()
    assert lay.n_params == 561
    tok = Tokenizer("scalar", lay, [torch.linspace(-1, 1, 245)], n_classes=10)
    v = tok.vocab.to_dict()
    assert (v["n_codes"], v["sos"], v["class_offset"], v["null_class"], v["vocab_size"]) == (245, 245, 246, 256, 257)
    assert (v["seq_len"], v["block_size"]) == (563, 562)
    assert v["allowed"][0] == [245, 246] and v["allowed"][1] == [246, 256]
    assert all(a == [0, 245] for a in v["allowed"][2:])
    assert v["kinds"][:2] == [0, 1] and len(v["kinds"]) == 563
    # layer 0: 256 weights (kind 2+0) then 16 biases (kind 2+1); the output bias is the last position (2+5)
    assert v["kinds"][2:258] == [2] * 256 and v["kinds"][258:274] == [3] * 16 and v["kinds"][-1] == 7
    labels = torch.tensor([3, 0, 9])
    weights = torch.linspace(-1, 1, 245)[torch.randint(0, 245, (3, 561))]
    seq = tok.tokenize(weights, labels)
    assert seq.shape == (3, 563) and seq.dtype == torch.int64
    assert seq[:, 0].tolist() == [245] * 3 and seq[:, 1].tolist() == [249, 246, 255]
    assert torch.equal(tok.decode(seq), weights)  # full sequences and weight tokens alone both decode
    assert torch.equal(tok.decode(seq[:, 2:]), weights)
    assert Vocabulary.from_dict(v).to_dict() == v


def test_neuron_mode_round_trips_shapes_and_files(tmp_path):
    lay = reference_layout()
    g = torch.Generator().manual_seed(1)
    base = torch.randn(lay.n_params, generator=g)
    weights = base + 0.1 * torch.randn(200, lay.n_params, generator=g)  # fields near a shared init
    cc = cfgmod.preset("quick").codebook
    cc.mode, cc.size, cc.iters = "neuron", 48, 10  # 3 codes per neuron position: enough to beat the mean field
    tok, results = fit_tokenizer(weights, lay, cc, n_classes=10, seed=0)
    assert [r.centers.shape for r in results] == [(48, 17), (48, 17), (48, 17)]
    v = tok.vocab
    assert (v.n_codes, v.sos, v.vocab_size, v.seq_len) == (144, 144, 156, 35)  # 16 + 16 + 1 neurons + SOS + class
    assert v.allowed[2:18] == [(0, 48)] * 16 and v.allowed[18:34] == [(48, 96)] * 16 and v.allowed[34] == (96, 144)
    assert v.kinds[2:] == [2] * 16 + [4] * 16 + [6]
    seq = tok.tokenize(weights, torch.arange(200) % 10)
    assert seq.shape == (200, 35)
    dec = tok.decode(seq)
    assert dec.shape == (200, 561)
    # neuron j of layer 1 decodes to exactly one layer-1 code vector (incoming weights + bias)
    w1, b1 = lay.unflatten(dec)[1]
    vec = torch.cat([w1[5, 3], b1[5, 3:4]])
    assert torch.equal(vec, tok.codebooks[1][seq[5, 2 + 16 + 3] - 48])
    # codebook vectors themselves encode and decode exactly
    exact = tok.decode(seq)
    assert torch.equal(tok.decode(tok.encode(exact)), exact)
    # quantizing beats replacing every field by the mean field
    assert (dec - weights).pow(2).mean() < (weights - weights.mean(0)).pow(2).mean()
    tok.save(tmp_path)
    from nfgen_tui.workspace import atomic_write_json

    atomic_write_json(tmp_path / "report.json", tok.report())
    again = Tokenizer.load(tmp_path)
    assert torch.equal(again.decode(seq), dec)


def test_special_token_at_a_weight_position_raises():
    lay = reference_layout((4,))
    tok = Tokenizer("scalar", lay, [torch.linspace(-1, 1, 5)], n_classes=3)
    seq = tok.tokenize(torch.zeros(2, lay.n_params), torch.tensor([0, 2]))
    bad = seq.clone()
    bad[1, 7] = tok.vocab.sos
    with pytest.raises(TokenError, match=r"token 5 \(SOS\) at position 7 of sequence 1"):
        tok.decode(bad)
    bad = seq.clone()
    bad[0, 3] = tok.vocab.class_offset + 2
    with pytest.raises(TokenError, match="class token 2"):
        tok.decode(bad[:, 2:])
    bad = seq.clone()
    bad[0, 0] = 0  # a weight code where SOS belongs is just as wrong
    with pytest.raises(TokenError, match="position 0"):
        tok.decode(bad)
    with pytest.raises(TokenError, match="tokens must be"):
        tok.decode(seq[:, 1:])


def test_neuron_token_of_another_layer_raises():
    lay = reference_layout((4,))
    books = [torch.randn(3, 17), torch.randn(2, 5)]
    tok = Tokenizer("neuron", lay, books, n_classes=10)
    codes = torch.tensor([[0, 1, 2, 0, 3]])  # 4 hidden neurons (ids 0..2) and the output neuron (ids 3..4)
    assert tok.decode(codes).shape == (1, lay.n_params)
    with pytest.raises(TokenError, match="only ids 3..4"):
        tok.decode(torch.tensor([[0, 1, 2, 0, 1]]))


def test_a_codebook_stored_before_the_null_class_still_loads_and_decodes(tmp_path):
    """Runs made before classifier-free guidance have no null class in report.json: they stay usable unguided."""
    from nfgen_tui.workspace import atomic_write_json

    lay = reference_layout((8, 8))
    tok = Tokenizer("scalar", lay, [torch.linspace(-1, 1, 245)], n_classes=10)
    tok.save(tmp_path)
    old = tok.report()
    del old["null_class"]
    old["vocab_size"] -= 1  # 245 codes + SOS + 10 classes, as written before the null class existed
    atomic_write_json(tmp_path / "report.json", old)
    again = Tokenizer.load(tmp_path)
    assert again.vocab.null_class is None and again.vocab.vocab_size == 256
    seq = tok.tokenize(tok.decode(torch.zeros(3, lay.n_params, dtype=torch.long)), torch.tensor([0, 4, 9]))
    assert torch.equal(again.decode(seq), tok.decode(seq))
    old["vocab_size"] += 7  # a report that disagrees with its codebook is still refused
    atomic_write_json(tmp_path / "report.json", old)
    with pytest.raises(Exception, match="report.json"):
        Tokenizer.load(tmp_path)
