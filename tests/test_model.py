"""The GPT and its sampler on tiny sizes: KV cache == recompute, greedy top-k 1, masking, filters, vocabulary checks."""

from __future__ import annotations

import math

import pytest
import torch

import model_synth
from model_synth import one_thread  # noqa: F401  (autouse)
from nfgen_tui.errors import UserError
from nfgen_tui.model.causal import KVCache
from nfgen_tui.model.gpt import GPT, GPTConfig
from nfgen_tui.model.sample import filter_logits, sample_tokens
from nfgen_tui.tokens.vocab import Vocabulary


def tiny(vocab: Vocabulary, seed: int = 0, **kw) -> GPT:
    torch.manual_seed(seed)
    cfg = GPTConfig(vocab_size=vocab.vocab_size, block_size=vocab.block_size, n_layer=2, n_head=2, n_embd=32,
                    n_kinds=max(vocab.kinds) + 1, **kw)
    return GPT(cfg, kinds=torch.tensor(vocab.kinds[1:]))


@pytest.fixture
def vocab() -> Vocabulary:
    return Vocabulary.from_dict(model_synth.report())


def test_cached_forward_matches_full_forward(vocab):
    model = tiny(vocab).eval()
    x = torch.randint(0, vocab.n_codes, (3, vocab.block_size))
    full = model(x)
    cache = KVCache(model.cfg, 3, "cpu", torch.float32)
    parts = [model(x[:, :5], cache=cache, pos=0), model(x[:, 5:9], cache=cache, pos=5)]  # prefill, then a chunk
    parts += [model(x[:, t:t + 1], cache=cache, pos=t) for t in range(9, vocab.block_size)]  # then one at a time
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)


def test_kv_cache_sampling_equals_recomputing_token_for_token(vocab):
    model = tiny(vocab).double()
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    for settings in ({"temperature": 1.0}, {"temperature": 0.8, "top_k": 3}, {"temperature": 1.3, "top_p": 0.9}):
        a = sample_tokens(model, vocab, labels, seed=5, use_cache=True, **settings)
        b = sample_tokens(model, vocab, labels, seed=5, use_cache=False, **settings)
        assert torch.equal(a, b), settings
    c = sample_tokens(model, vocab, labels, seed=6, temperature=1.0)
    assert not torch.equal(a[:, 2:], c[:, 2:])  # the seed matters


def test_top_k_one_is_greedy(vocab):
    model = tiny(vocab, seed=1).eval()
    labels = torch.tensor([0, 1, 2])
    got = sample_tokens(model, vocab, labels, temperature=0.7, top_k=1, seed=3)
    seq = got[:, :2].clone()
    with torch.no_grad():
        for t in range(2, vocab.seq_len):
            logits = model(seq)[:, -1]
            lo, hi = vocab.allowed[t]
            seq = torch.cat([seq, (lo + logits[:, lo:hi].argmax(-1))[:, None]], 1)
    assert torch.equal(got, seq)
    assert torch.equal(got, sample_tokens(model, vocab, labels, temperature=2.0, top_k=1, seed=99))


def test_tokens_outside_allowed_are_never_drawn_even_when_the_model_prefers_them(vocab):
    model = tiny(vocab).eval()
    with torch.no_grad():  # make SOS, class tokens and the lowest codes overwhelmingly likely everywhere
        model.head.weight.zero_()
        model.ln_f.weight.zero_()
        model.ln_f.bias.fill_(1.0)
        model.head.weight[vocab.n_codes:, :] = 5.0
        model.head.weight[:8, :] = 4.0
    logits = model(torch.full((1, 3), vocab.sos))[0, -1]
    assert logits[vocab.n_codes:].min() > logits[: vocab.n_codes].max()
    labels = torch.arange(3).repeat(20)
    lo, hi = (t[2:] for t in vocab.allowed_bounds())
    for settings in ({"temperature": 1.0}, {"temperature": 5.0}, {"top_k": 2}, {"top_p": 0.5}, {"top_k": 1}):
        seqs = sample_tokens(model, vocab, labels, seed=0, **settings)
        w = seqs[:, 2:]
        assert ((w >= lo) & (w < hi)).all(), settings
        assert (w < vocab.n_codes).all()
        assert torch.equal(seqs[:, 1], vocab.class_offset + labels)
    assert (seqs[:, 2 + 16:] >= 8).all()  # second layer's positions allow codes 8… only


def test_filter_logits_top_p_keeps_smallest_nucleus():
    p = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = torch.isfinite(filter_logits(p.log(), 0, 4, 1.0, 0, 0.75))
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(filter_logits(p.log(), 0, 4, 1.0, 0, 0.1))
    assert kept.tolist() == [[True, False, False, False]]
    kept = torch.isfinite(filter_logits(p.log(), 1, 4, 1.0, 2, 1.0))  # range first, then top-k within it
    assert kept.tolist() == [[False, True, True, False]]


def test_temperature_sharpens_the_empirical_distribution(vocab):
    model = tiny(vocab, seed=2).eval()
    with torch.no_grad():
        model.head.weight.normal_(0.0, 1.0)  # a freshly initialised head is almost uniform
    labels = torch.zeros(300, dtype=torch.long)

    def entropy(t):
        first = sample_tokens(model, vocab, labels, temperature=t, seed=0)[:, 2]
        p = torch.bincount(first, minlength=vocab.vocab_size).float() / len(first)
        return -(p[p > 0] * p[p > 0].log()).sum().item()

    assert entropy(0.3) < entropy(3.0) - 0.3
    assert entropy(3.0) < math.log(vocab.n_codes) + 1e-6


def test_tied_head_shares_the_embedding(vocab):
    model = tiny(vocab, tie_head=True)
    assert model.head.weight is model.tok_emb.weight
    assert tiny(vocab).head.weight is not tiny(vocab).tok_emb.weight


def test_inconsistent_vocabulary_is_a_user_error():
    rep = model_synth.report()
    bad = dict(rep, allowed=rep["allowed"][:-1] + [[0, rep["n_codes"] + 1]])  # SOS allowed at a weight position
    with pytest.raises(UserError, match="special tokens"):
        Vocabulary.from_dict(bad)
    with pytest.raises(UserError, match="inconsistent"):
        Vocabulary.from_dict(dict(rep, vocab_size=rep["vocab_size"] + 1))
    with pytest.raises(UserError, match="lacks a valid vocabulary"):
        Vocabulary.from_dict({k: v for k, v in rep.items() if k != "kinds"})


def test_context_longer_than_block_size_is_refused(vocab):
    model = tiny(vocab)
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, vocab.block_size + 1, dtype=torch.long))
