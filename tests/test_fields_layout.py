"""The flat weight layout and the batched functional forward agree with ordinary per-field nn.Linear stacks."""

import math

import pytest
import torch

from nfgen_tui.config import FieldsConfig
from nfgen_tui.errors import UserError
from nfgen_tui.fields import Layout, coordinates, forward, layout_from_config
from nfgen_tui.fields.functional import Scratch, encode, field_loss, inputs, loss_and_grad
from nfgen_tui.fields.init import chunk_init


def test_reference_layout_has_561_weights_and_round_trips():
    lay = layout_from_config(FieldsConfig())
    assert lay.n_params == 561 and [(l.n_in, l.n_out) for l in lay.layers] == [(16, 16), (16, 16), (16, 1)]
    flat = torch.randn(3, lay.n_params)
    assert torch.equal(lay.flatten(lay.unflatten(flat)), flat)
    w0, b0 = lay.unflatten(flat)[0]
    assert torch.equal(w0[1, 2], flat[1, 32:48]) and torch.equal(b0[1], flat[1, 256:272])  # W row-major, then b
    back = Layout.from_json(lay.to_json())
    assert back == lay and back.n_params == 561


def test_p_is_derived_from_config():
    lay = layout_from_config(FieldsConfig(hidden=[8, 8, 4], octaves=2, bias=False))
    assert lay.n_params == 8 * 8 + 8 * 8 + 4 * 8 + 4


def test_pixel_centres_in_minus_one_one():
    c = coordinates(4)
    assert torch.allclose(c[:4, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75]))  # x along the first row
    assert torch.allclose(c[::4, 1], torch.tensor([-0.75, -0.25, 0.25, 0.75]))  # y down the rows
    assert encode(c, layout_from_config(FieldsConfig())).shape == (16, 16)


@pytest.mark.parametrize("arch,bias", [("relu-pe", True), ("siren", True), ("relu-pe", False)])
def test_batched_forward_equals_per_field_modules(arch, bias):
    lay = layout_from_config(FieldsConfig(arch=arch, hidden=[6, 5], bias=bias, octaves=2))
    flat = chunk_init("random", lay, 3, 0, 4, None)
    feats = inputs(lay, 7)
    out = forward(flat, lay, feats)
    for i in range(4):
        h = feats
        for j, (w, b) in enumerate(lay.unflatten(flat[i])):
            lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=bias)
            with torch.no_grad():
                lin.weight.copy_(w)
                if bias:
                    lin.bias.copy_(b)
            h = lin(h)
            if j < len(lay.layers) - 1:
                h = torch.sin(lay.omega0 * h if j == 0 else h) if arch == "siren" else torch.relu(h)
        assert torch.allclose(out[i], h.squeeze(-1), atol=1e-5)


@pytest.mark.parametrize("arch,bias", [("relu-pe", True), ("siren", True), ("siren", False), ("relu-pe", False)])
def test_hand_written_gradient_equals_autograd(arch, bias):
    lay = layout_from_config(FieldsConfig(arch=arch, hidden=[8, 6, 5], bias=bias, octaves=3))
    flat = chunk_init("random", lay, 1, 0, 5, None).double().requires_grad_(True)
    target = torch.rand(5, 81, dtype=torch.float64)
    feats = inputs(lay, 9).double()
    loss = field_loss(forward(flat, lay, feats), target, lay)
    loss.sum().backward()
    grad, mine = loss_and_grad(flat.detach(), lay, feats, target, want_loss=True)
    assert torch.allclose(grad, flat.grad, rtol=1e-9, atol=1e-12)
    assert torch.allclose(mine, loss.detach())
    assert grad.abs().max() > 0


def test_layout_rejects_bad_architectures():
    with pytest.raises(UserError, match="architecture"):
        layout_from_config(FieldsConfig(arch="transformer"))
    with pytest.raises(UserError, match="width"):
        layout_from_config(FieldsConfig(hidden=[16, 0]))
    with pytest.raises(UserError, match="expects 561"):
        layout_from_config(FieldsConfig()).unflatten(torch.zeros(2, 560))
    assert math.isfinite(float(forward(torch.zeros(1, 561), layout_from_config(FieldsConfig()), inputs(
        layout_from_config(FieldsConfig()), 2)).sum()))


@pytest.mark.parametrize("arch", ["relu-pe", "siren"])
def test_a_reused_scratch_gives_the_same_gradient_without_new_buffers(arch):
    """The fitter passes one Scratch to every step: the results must not depend on what the buffers held before."""
    lay = layout_from_config(FieldsConfig(arch=arch, hidden=[8, 6]))
    feats, target = inputs(lay, 12), torch.rand(4, 144)
    a, b = chunk_init("random", lay, 1, 0, 4, None), chunk_init("random", lay, 2, 0, 4, None)
    scratch = Scratch()
    loss_and_grad(b, lay, feats, target, scratch=scratch)  # fills the buffers with another field's activations
    held = {name: buf.data_ptr() for name, buf in scratch._buffers.items()}
    grad, loss = loss_and_grad(a, lay, feats, target, want_loss=True, scratch=scratch)
    fresh, fresh_loss = loss_and_grad(a, lay, feats, target, want_loss=True)
    assert torch.equal(grad, fresh) and torch.equal(loss, fresh_loss)
    assert {name: buf.data_ptr() for name, buf in scratch._buffers.items()} == held  # reused, not reallocated
