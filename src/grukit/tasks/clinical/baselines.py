"""The non-recurrent baselines of Che et al. 2018 on per-variable summary statistics
(``ClinicalData.summary_features``: count, mean, std, min, max, first, last of each variable
in the window, plus the descriptors), from scikit-learn: logistic regression (missing values
imputed by the training mean, with missing-indicator columns, then z-scored) and histogram
gradient boosting (reads NaN natively; early stopping on a stratified tenth of the training
rows when that tenth can hold both outcomes, else the full ``max_iter`` rounds)."""

from __future__ import annotations

import math

import numpy as np

BASELINES = ("logistic-regression", "gradient-boosting")
VALIDATION_FRACTION = 0.1  # gradient boosting's early-stopping share of the training rows


def baseline_model(name: str, seed: int = 0):
    """An unfitted scikit-learn classifier for the baseline ``name``."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logistic-regression":
        return make_pipeline(SimpleImputer(strategy="mean", add_indicator=True,
                                           keep_empty_features=True),
                             StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    if name == "gradient-boosting":
        return HistGradientBoostingClassifier(learning_rate=0.05, max_iter=300,
                                              early_stopping=True,
                                              validation_fraction=VALIDATION_FRACTION,
                                              random_state=seed)
    raise ValueError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}.")


def baseline_proba(name: str, features: np.ndarray, y: np.ndarray, train: np.ndarray,
                   test: np.ndarray, seed: int = 0) -> np.ndarray:
    """(len(test),) probabilities of outcome 1 from ``name`` fitted on the rows ``train`` of
    ``features`` (N, F) with labels ``y`` (N,)."""
    keep = ~np.isnan(features[train]).all(axis=0)  # (F,) a column never filled has no use
    # (and trips HistGradientBoosting's binning)
    x = features[:, keep]
    labels = y[train].astype(np.int64)
    model = baseline_model(name, seed)
    if name == "gradient-boosting" and not _can_hold_out(labels, VALIDATION_FRACTION):
        model.set_params(early_stopping=False)  # its stratified split would raise
    model = model.fit(x[train], labels)
    return model.predict_proba(x[test])[:, 1]


def _can_hold_out(y: np.ndarray, fraction: float) -> bool:
    """Whether scikit-learn's stratified split of ``fraction`` of ``y`` works: each outcome
    has two rows or more and both parts, ceil(fraction · n) and the rest, can hold both
    (a small training fold, a dozen stays, has too few)."""
    counts = np.bincount(y, minlength=2)
    n_val = math.ceil(fraction * len(y))
    return bool(counts.min() >= 2 and 2 <= n_val <= len(y) - 2)
