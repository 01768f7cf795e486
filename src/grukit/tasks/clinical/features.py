"""What each model reads from a ``ClinicalData``: the series inputs of GRU-D and of its
baselines (Che et al. 2018), and the static descriptors, all z-scored with statistics of the
training records only.

Series, each (N, T, ·) float32, x z-scored:

    grud         [x (0 where missing), m, δ / window]   GRU-D decays x̂ toward x̄ itself
    gru-mean     x, missing -> x̄               lstm-mean the same
    gru-forward  x, missing -> last seen value (x̄ before the first)
    gru-simple   [x, missing -> x̄, m, δ / window]
    gru-simple-forward  [x forward-filled, m, δ / window]

GRU-simple's x is imputed by the mean, as in Che et al.'s released code (its ``GRUsimple``:
``x_imputation='zero'`` on z-scored inputs, which is x̄ up to the tiny shift of an empirical
mean taken over the observed values only, and the mask fed to the gates); the paper's text
names only the concatenation [x, m, δ]. ``gru-simple-forward`` is the same model on
forward-filled x, which grukit's ``gru-simple`` read until 2026-12-06: a ``gru-simple``
saved before then loads as ``gru-simple-forward``.

δ is given in units of the window (48 h -> 1): the decay rates are learned, so this only
rescales them, but at GRU-D's initial rates a δ in hours (up to 47 for a variable measured
once) drives γ_h = exp(−W_γh δ) to ~0 at every step, so the state is wiped and nothing
learns.

A variable never observed in the training records (a rare one, in a small fold) has no mean
or spread to fit: it gets mean 0, std 1 and x̄ 0, and its mask is kept 0 in every record,
training and new alike, so the model reads it as never measured (a value it never saw in
training would otherwise reach weights that never learned from it). The model lists such
variables (``unseen``).

Descriptors: numeric ones z-scored with 0 where missing; categorical ones (the data's
``categorical``: PhysioNet's Gender and ICUType, a long CSV's ``categorical=``) one-hot over
the values seen in training (all zeros when missing); a descriptor never given
in the training records is dropped (set A has no ICUType rows).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

PACKED = {"grud": 3, "gru-mean": 1, "gru-forward": 1, "gru-simple": 3, "gru-simple-forward": 3,
          "lstm-mean": 1}


@dataclass
class Encoding:
    """Training statistics, saved with the model: series z-scoring (D,) ×2 and x̄ (D,) in
    z units; per descriptor its kind and (mean, std) or categories."""

    mean: np.ndarray  # (D,) float64
    std: np.ndarray  # (D,) float64
    x_mean: np.ndarray  # (D,) float32, the empirical mean of the z-scored series
    statics: list  # [(name, "numeric", [mean, std]) | (name, "categorical", [values...])]
    unseen: tuple = ()  # positions of variables never observed in training: mask kept 0

    @property
    def static_width(self) -> int:
        return sum(1 if kind == "numeric" else len(v) for _, kind, v in self.statics)


def fit_encoding(data, rows: np.ndarray) -> Encoding:
    """The statistics of the training records ``rows`` (variables never observed in them:
    mean 0, std 1, x̄ 0, listed in ``unseen``)."""
    from ...data.clinical import Standardization, empirical_mean

    observed = data.M[rows].sum(axis=(0, 1)) > 0  # (D,)
    d = len(data.variables)
    z_mean, z_std, x_mean = np.zeros(d), np.ones(d), np.zeros(d, dtype=np.float32)
    x, m = (data.X, data.M) if observed.all() else (data.X[..., observed], data.M[..., observed])
    st = Standardization.fit(x, m, rows)
    z_mean[observed], z_std[observed] = st.mean, st.std
    x_mean[observed] = empirical_mean(st.apply(x), m, rows)
    statics = []
    for j, name in enumerate(data.static_names):
        col = data.static[rows, j].astype(np.float64)  # (n,)
        seen = col[np.isfinite(col)]
        if not len(seen):
            continue  # never given in training: nothing to learn from
        if name in data.categorical:
            statics.append((name, "categorical", sorted(float(v) for v in np.unique(seen))))
        else:
            std = float(seen.std())
            statics.append((name, "numeric", [float(seen.mean()), std if std > 0 else 1.0]))
    unseen = tuple(int(i) for i in np.flatnonzero(~observed))
    return Encoding(z_mean, z_std, x_mean, statics, unseen)


def without_unseen(data, enc: Encoding):
    """``data`` with the variables of ``enc.unseen`` read as never measured: X NaN, mask 0,
    δ the time since the first step (eq. 1 with no observation)."""
    if not enc.unseen:
        return data
    u = list(enc.unseen)
    x, m, delta = data.X.copy(), data.M.copy(), data.delta.copy()  # (N, T, D) each
    x[..., u], m[..., u] = np.nan, 0.0
    delta[..., u] = (data.step * np.arange(data.n_steps, dtype=np.float32))[None, :, None]
    return replace(data, X=x, M=m, delta=delta)


def static_inputs(data, enc: Encoding) -> np.ndarray:
    """(N, S') float32 encoded descriptors."""
    cols = []
    names = list(data.static_names)
    for name, kind, v in enc.statics:
        if name not in names:
            raise ValueError(f"the data has no descriptor {name!r}, which the model was "
                             f"trained with; give stays in the training data's format.")
        col = data.static[:, names.index(name)].astype(np.float64)  # (N,)
        if kind == "numeric":
            cols.append(np.where(np.isfinite(col), (col - v[0]) / v[1], 0.0)[:, None])
        else:
            cols.append(np.stack([col == c for c in v], axis=1).astype(np.float64))
    if not cols:
        return np.zeros((data.n_records, 0), dtype=np.float32)
    return np.concatenate(cols, axis=1).astype(np.float32)


def series_inputs(data, enc: Encoding, model: str) -> np.ndarray:
    """(N, T, PACKED[model]·D) float32: the series as ``model`` reads it (table above)."""
    from ...data.clinical import Standardization

    st = Standardization(enc.mean, enc.std)
    data = without_unseen(data, enc)
    window = np.float32(data.n_steps * data.step)
    if model == "grud":
        x, m, d = data.inputs(st)
        return np.concatenate([x, m, d / window], axis=-1).astype(np.float32)
    how = "mean" if model in ("gru-mean", "lstm-mean", "gru-simple") else "forward"
    filled = data.imputed(how, enc.x_mean, st).astype(np.float32)
    if model in ("gru-mean", "lstm-mean", "gru-forward"):
        return filled
    return np.concatenate([filled, data.M, data.delta / window], axis=-1).astype(np.float32)


def network_inputs(data, enc: Encoding, model: str) -> np.ndarray:
    """(N, T, F + S') float32: the series and, repeated at every step, the descriptors (one
    tensor, as ``grukit.models.Sequential.fit`` batches one input)."""
    series = series_inputs(data, enc, model)  # (N, T, F)
    static = static_inputs(data, enc)  # (N, S')
    rep = np.broadcast_to(static[:, None, :], (*series.shape[:2], static.shape[1]))
    return np.concatenate([series, rep], axis=-1)
