"""torch.nn-compatible recurrent modules: same arguments, parameter names and outputs."""

from .cells import GRUCell, LSTMCell, RNNCell
from .gru import GRU
from .lstm import LSTM
from .mingru import MinGRU
from .rnn import RNN
from .stream import Stream

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "MinGRU", "RNN", "RNNCell", "Stream"]
