"""Functional recurrences: ``gru``, ``lstm``, ``rnn``, ``mingru``, ``lngru``, ``grud``.

One signature per family, batch first: ``op(x (B, T, I), weights..., *, h0=None,
lengths=None, reverse=False, backend="auto", ...) -> (y (B, T, H), h_n)``.
Every backend is checked against the plain-torch reference next to it.

The input checks and sequence helpers the modules above ops share are public here:
``as_lengths``, ``check_finite``, ``shape_str``, ``reverse_within`` and ``zero_padding``;
``outside_compile(fn, why)`` runs ``fn`` outside a ``torch.compile`` graph (a graph break).
The Triton kernels' settings (block sizes, the split-H plan, ...) are ``TritonSettings``,
made active for a block of code with ``with triton_settings(split=False): ...``.
"""

from ._checks import as_lengths, check_finite, shape_str
from ._cpu import outside_compile
from ._entry import zero_padding
from ._seq import reverse_within
from ._triton import TritonSettings, triton_settings
from .gru import gru, gru_step
from .grud import grud
from .lngru import lngru
from .lstm import lstm, lstm_step
from .mingru import mingru, mingru_step
from .rnn import rnn, rnn_step

__all__ = ["TritonSettings", "as_lengths", "check_finite", "gru", "gru_step", "grud", "lngru",
           "lstm", "lstm_step", "mingru", "mingru_step", "outside_compile", "reverse_within",
           "rnn", "rnn_step",
           "shape_str", "triton_settings", "zero_padding"]
