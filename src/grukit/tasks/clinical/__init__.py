"""In-hospital mortality (or any outcome) from irregular clinical series: GRU-D and the
paper's recurrent baselines (Che et al. 2018) as one estimator, ``ClinicalClassifier``,
beside logistic regression / gradient boosting on summary statistics, and the
``grukit clinical`` command."""

from .estimator import MODELS, ClinicalClassifier, ClinicalConfig

__all__ = ["MODELS", "ClinicalClassifier", "ClinicalConfig"]
