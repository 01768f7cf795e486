"""Non-recurrent baselines measured beside the networks, on the same folds.

- ``TfidfLogReg``: word 1-2-gram TF-IDF (sub-linear term frequency) + logistic regression,
  the standard strong baseline for short texts.
- ``SummaryLogReg``: per-channel mean, std, min, max, first and last value plus the length
  of each sequence, standardized, + logistic regression.
"""

from __future__ import annotations

import numpy as np


def _encoded(labels) -> tuple[np.ndarray, np.ndarray]:
    """(classes, each label's index): the logistic regression learns the indices, since
    scikit-learn calls fractional labels (0.5, 1.5) 'continuous' and refuses them."""
    from .labels import as_labels

    classes, y = np.unique(as_labels(labels), return_inverse=True)
    return classes, y.astype(np.int64)  # (K,), (N,)


class TfidfLogReg:
    """Word 1-2-gram TF-IDF (sub-linear term frequency, lower-cased) + logistic regression
    (scikit-learn), the text classifiers' baseline: ``TfidfLogReg().fit(texts,
    labels).predict(texts)``. Training texts without a single word of two letters or digits
    (emoji, one-letter codes), which leave the word vocabulary empty, get character 1-3-gram
    TF-IDF instead; ``analyzer_`` says which ("word" or "char_wb").

    Args:
        C: inverse regularisation strength of the logistic regression.
        seed: its ``random_state``.
    """

    name = "tfidf_logreg"

    def __init__(self, C: float = 10.0, seed: int = 0):
        self.C, self.seed = C, seed

    def fit(self, texts, labels):
        """Fit on ``texts`` (strings) and their ``labels``; returns self."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        texts = list(texts)
        words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
        analyze = words.build_analyzer()
        self.analyzer_ = "word" if any(analyze(t) for t in texts) else "char_wb"
        vectorizer = words if self.analyzer_ == "word" else TfidfVectorizer(
            analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, lowercase=True)
        self.pipe = make_pipeline(vectorizer, LogisticRegression(
            C=self.C, max_iter=2000, random_state=self.seed))
        self.classes_, y = _encoded(labels)
        self.pipe.fit(texts, y)
        return self

    def predict(self, texts) -> np.ndarray:
        """The label of each text, (N,)."""
        return self.classes_[self.pipe.predict(list(texts))]


def summary_features(sequences) -> np.ndarray:
    """(N, 6·C + 1): mean, std, min, max, first, last of each channel, and the length."""
    rows = []
    for s in sequences:
        s = np.asarray(s, dtype=np.float64).reshape(len(s), -1)  # (T, C)
        rows.append(np.concatenate([s.mean(0), s.std(0), s.min(0), s.max(0), s[0], s[-1],
                                    [len(s)]]))
    return np.stack(rows)


class SummaryLogReg:
    """Summary statistics of each sequence (``summary_features``: per channel mean, std,
    min, max, first and last value, and the length), standardised, + logistic regression
    (scikit-learn): the numeric-sequence classifiers' baseline.

    Args:
        C: inverse regularisation strength of the logistic regression.
        seed: its ``random_state``.
    """

    name = "summary_logreg"

    def __init__(self, C: float = 1.0, seed: int = 0):
        self.C, self.seed = C, seed

    def fit(self, sequences, labels):
        """Fit on ``sequences`` (each (T_i, C) or (T_i,)) and their ``labels``; returns
        self."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.pipe = make_pipeline(StandardScaler(),
                                  LogisticRegression(C=self.C, max_iter=5000,
                                                     random_state=self.seed))
        self.classes_, y = _encoded(labels)
        self.pipe.fit(summary_features(sequences), y)
        return self

    def predict(self, sequences) -> np.ndarray:
        """The label of each sequence, (N,)."""
        return self.classes_[self.pipe.predict(summary_features(sequences))]
