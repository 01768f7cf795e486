"""torch.nn-compatible recurrent modules: same arguments, parameter names and outputs."""

from ._base import RecurrentBase, check_backend
from .cells import GRUCell, LSTMCell, RNNCell
from .gru import GRU
from .grud import GRUD
from .lngru import LayerNormGRU
from .lstm import LSTM
from .mingru import MinGRU
from .rnn import RNN
from .stream import Stream

__all__ = ["GRU", "GRUCell", "GRUD", "LSTM", "LSTMCell", "LayerNormGRU", "MinGRU", "RNN",
           "RNNCell", "RecurrentBase", "Stream", "check_backend"]
