"""The kernels' buffer pool: a buffer comes back only when nothing refers to its memory."""

import sys
import types

import numpy as np
import pytest
import torch

from grukit.nn import GRU, LSTM
from grukit.ops import _pool

SHAPE = (64, 1024)  # 256 KiB of float32: pooled


@pytest.fixture(autouse=True)
def _fresh_pool():
    _pool.clear()
    yield
    _pool.clear()


def test_memory_comes_back_only_after_every_view_and_tensor_of_it_is_gone():
    a = _pool.empty(SHAPE, np.float32)
    at = a.ctypes.data
    assert at % _pool.ALIGN == 0
    view = a.T[::2]  # a numpy view of a view: its base is the pool's array, not a
    t = torch.from_numpy(a).transpose(0, 1)[1:]  # a tensor view of it
    del a
    b = _pool.empty(SHAPE, np.float32)
    assert b.ctypes.data != at  # the views keep it
    del view
    c = _pool.empty(SHAPE, np.float32)
    assert c.ctypes.data not in (at, b.ctypes.data)  # the tensor keeps it
    del t, c
    assert _pool.empty(SHAPE, np.float32).ctypes.data == at


def test_a_live_base_is_kept_where_the_interpreter_borrows_references(monkeypatch):
    """Python 3.14 pushes a local onto the stack as a borrowed reference (LOAD_FAST_BORROW),
    so sys.getrefcount reads one less than 3.11 for the same references: here simulated. A
    base one view still uses must not come back; a free one still must."""
    real = sys.getrefcount
    monkeypatch.setattr(_pool, "sys", types.SimpleNamespace(getrefcount=lambda o: real(o) - 2))
    _pool.clear()  # the interpreter changed: measured again
    a = _pool.empty(SHAPE, np.float32)
    at = a.ctypes.data
    b = _pool.empty(SHAPE, np.float32)
    assert b.ctypes.data != at  # a lives
    del a, b
    assert _pool.empty(SHAPE, np.float32).ctypes.data == at  # free again


def test_small_buffers_are_not_pooled_and_sizes_are_capped(monkeypatch):
    small = _pool.empty((4, 4), np.float64)
    assert small.shape == (4, 4) and not _pool._bases
    monkeypatch.setattr(_pool, "LIMIT", 3 * (1 << 20))
    for k in range(1, 6):  # five sizes of 1 MiB and more: the oldest are dropped
        _pool.empty((k << 18,), np.float32)
    assert _pool._held[0] <= _pool.LIMIT + (5 << 20) + _pool.ALIGN
    assert list(_pool._bases)[-1] == 5 << 20  # the newest size is kept


def test_linear_and_zeros_match_torch():
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(8, 40, 3, generator=g), torch.randn(256, 3, generator=g), \
        torch.randn(256, generator=g)
    torch.testing.assert_close(_pool.linear(x, w, b), torch.nn.functional.linear(x, w, b))
    torch.testing.assert_close(_pool.linear(x.double(), w.double(), None),
                               torch.nn.functional.linear(x.double(), w.double()))
    assert not _pool.zeros_like(torch.ones(300, 300)).any()


@pytest.mark.parametrize("cls", [GRU, LSTM])
def test_outputs_kept_across_training_steps_keep_their_values(cls):
    """A user who keeps a step's outputs and gradients (a list of y, say) must see them
    unchanged by the steps after it, which take their buffers from the same pool."""
    torch.manual_seed(0)
    m = cls(3, 32, batch_first=True, backend="cpu")
    kept, copies = [], []
    for _ in range(3):
        x = torch.randn(16, 50, 3)
        y, _ = m(x)
        y.sum().backward()
        kept.append((y, m.weight_hh_l0.grad))
        copies.append((y.detach().clone(), m.weight_hh_l0.grad.clone()))
        m.zero_grad(set_to_none=True)
    for (y, g), (y0, g0) in zip(kept, copies, strict=True):
        assert torch.equal(y.detach(), y0) and torch.equal(g, g0)


@pytest.mark.parametrize("train", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("cls", [GRU, LSTM])
def test_outputs_of_consecutive_calls_do_not_share_memory(cls, train):
    torch.manual_seed(0)
    m = cls(3, 32, batch_first=True, backend="cpu")
    with torch.set_grad_enabled(train):
        outs = [m(torch.randn(16, 50, 3))[0] for _ in range(3)]
    copies = [y.detach().clone() for y in outs]
    outs.append(m(torch.randn(16, 50, 3))[0])  # a fourth call while the three live
    for y, y0 in zip(outs[:3], copies, strict=True):
        assert torch.equal(y.detach(), y0)
    assert len({y.data_ptr() for y in outs}) == 4


def test_linear_of_an_input_without_features():
    """I = 0 (a recurrence driven by its biases alone): the bias broadcast, as F.linear."""
    b = torch.randn(256)
    for rows in (2, 300):  # torch's allocator, then the pool
        x, w = torch.randn(rows, 5, 0), torch.randn(256, 0)
        torch.testing.assert_close(_pool.linear(x, w, b), torch.nn.functional.linear(x, w, b))
