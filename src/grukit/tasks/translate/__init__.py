"""Translation: a GRU encoder–decoder with attention (Bahdanau et al. 2015; Luong et al.
2015), sub-word vocabularies, greedy and beam-search decoding, sacreBLEU scores."""

from .translator import Translator, TranslatorConfig

__all__ = ["Translator", "TranslatorConfig"]
