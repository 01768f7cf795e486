"""Text and sequence classification with recurrent networks and attention pooling, beside
TF-IDF / summary-statistics logistic-regression baselines; k-fold cross-validation."""

from .baselines import SummaryLogReg, TfidfLogReg
from .crossval import cross_validate
from .labels import encode_labels
from .metrics import classification_scores
from .sequence import SequenceClassifier, SequenceConfig
from .text import TextClassifier, TextConfig
from .tokenizer import TextTokenizer

__all__ = ["SequenceClassifier", "SequenceConfig", "SummaryLogReg", "TextClassifier",
           "TextConfig", "TextTokenizer", "TfidfLogReg", "classification_scores",
           "cross_validate", "encode_labels"]
