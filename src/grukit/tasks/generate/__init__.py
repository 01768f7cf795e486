"""Text generation: character- and sub-word-level language models (stacked GRU / LSTM /
LayerNorm-GRU, residual minGRU, a GRU + attention hybrid, a Transformer baseline), trained
with truncated BPTT, sampled token by token (``grukit generate``)."""

from .generator import GeneratorConfig, TextGenerator
from .network import LanguageModel, NetSpec, model_names

__all__ = ["GeneratorConfig", "LanguageModel", "NetSpec", "TextGenerator", "model_names"]
