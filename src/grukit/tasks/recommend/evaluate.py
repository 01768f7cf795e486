"""Next-item evaluation over all items, and the baselines every result is shown beside.

Rank of the target = number of items scoring at least as high as it (ties counted against
the model: an item tied with the target ranks above it). Recall@k = share of predictions
with rank ≤ k; MRR@k = mean of 1/rank over them (0 beyond k).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...data.sessions import Sessions
from .batching import check_sessions, session_parallel

KS = (1, 5, 10, 20)


def _whole(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a whole number, 1 or more; got {value!r}.")


def _check_ks(ks) -> tuple:
    """``ks`` as a tuple, checked: a generator read here was spent, and no k at all gave a
    result with no metric in it."""
    if not hasattr(ks, "__iter__") or isinstance(ks, str):  # ks=20 failed in a traceback
        raise TypeError(f"ks must be a list of cut-offs, e.g. (20,) for k = 20 alone; got "
                        f"{ks!r}.")
    ks = tuple(ks)
    if not ks:
        raise ValueError("ks is empty; give at least one cut-off, e.g. (20,).")
    for k in ks:
        _whole("each k", k)
    return ks


def ranks_of(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """scores (B, n_items), targets (B,) -> conservative ranks (B,), 1 = best.

    NaN is refused: no score is ``>=`` NaN, so a NaN target would rank 0, a hit at every k
    with 1/rank = inf. So is a target that is no column of ``scores``: numpy reads ``-1`` as
    the last item and would rank that item instead."""
    scores, targets = np.asarray(scores), np.asarray(targets)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (B, n_items), one row per prediction; got shape "
                         f"{scores.shape}.")
    if targets.shape != (len(scores),):
        raise ValueError(f"targets must be (B,) = ({len(scores)},), one item index per row "
                         f"of scores; got shape {targets.shape}.")
    if targets.dtype.kind not in "iu":
        raise ValueError(f"targets must be whole item indices; got dtype {targets.dtype}.")
    outside = (targets < 0) | (targets >= scores.shape[1])
    if outside.any():
        raise ValueError(f"target {int(targets[outside][0])} is no item index: scores hold "
                         f"{scores.shape[1]} items, indexed 0 to {scores.shape[1] - 1}.")
    if np.isnan(scores).any():
        raise ValueError("the scores hold NaN, which has no rank among the items; give finite "
                         "scores (-inf for an item never to recommend).")
    target_scores = scores[np.arange(len(targets)), targets][:, None]  # (B, 1)
    return (scores >= target_scores).sum(axis=1)


def metrics_from_ranks(ranks: np.ndarray, ks=KS) -> dict[str, float]:
    """Recall@k and MRR@k for each k from the 1-based ranks of the true next items.

    Args:
        ranks (np.ndarray): (N,) rank of each true next item among all items (1 = first).
        ks (tuple[int, ...]): the cut-offs k.

    Returns:
        dict[str, float]: ``recall@k`` (share of ranks ≤ k) and ``mrr@k`` (mean of 1/rank
        where rank ≤ k, else 0) for every k; 0 for no ranks.
    """
    ks = _check_ks(ks)
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or ranks.dtype.kind not in "iuf":
        raise ValueError(f"ranks must be a 1-D array of numbers, one per prediction; got "
                         f"shape {ranks.shape} of dtype {ranks.dtype}.")
    bad = ~(ranks >= 1)  # NaN too: it would count as a miss at every k
    if bad.any():  # rank 0 gave 1/rank = inf, a negative one a negative MRR
        raise ValueError(f"rank {ranks[bad][0]!r} is below 1; ranks are 1-based (1 = the "
                         f"true next item scored first), as ranks_of gives them.")
    out = {}
    for k in ks:
        hit = ranks <= k
        out[f"recall@{k}"] = float(hit.mean()) if len(ranks) else 0.0
        out[f"mrr@{k}"] = float(np.where(hit, 1.0 / ranks, 0.0).mean()) if len(ranks) else 0.0
    return out


def evaluate(score_step: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
             test: Sessions, batch_size: int = 64, ks=KS) -> dict[str, float]:
    """Session-parallel pass over every test event.

    ``score_step(inputs, reset, active)`` returns scores (B, n_items) for the next item.
    ``test`` holds sessions of 2 or more events (a shorter one is refused: its slot would pair
    its event with the next session's first).
    """
    _whole("batch_size", batch_size)  # 0 slots would read no session and score 0 silently
    ks = _check_ks(ks)  # before the pass over every test event, not after it
    test = check_sessions(test, "test", events=False)
    ranks = []
    for inputs, targets, reset, active in session_parallel(test, batch_size, drain=True):
        scores = score_step(inputs, reset, active)
        if np.shape(scores) != (batch_size, test.n_items):  # another item map's scores
            raise ValueError(f"score_step gave scores of shape {np.shape(scores)}, not "
                             f"({batch_size}, {test.n_items}): one per item of the test "
                             f"sessions' item map; fit the model on sessions indexed with it "
                             f"(index_sessions(train_events, test_events)).")
        ranks.append(ranks_of(scores[active], targets[active]))
    all_ranks = np.concatenate(ranks) if ranks else np.zeros(0, np.int64)
    return metrics_from_ranks(all_ranks, ks) | {"predictions": int(len(all_ranks))}


class MostPopular:
    """Recommends the items with the most training events, whatever the session."""

    def fit(self, train: Sessions) -> MostPopular:
        train = check_sessions(train, "train", events=False)  # a DataFrame: AttributeError
        self.pop = train.popularity()
        return self

    def score_step(self, inputs, reset, active):
        _fitted(self, "pop")
        return np.broadcast_to(self.pop, (len(inputs), len(self.pop)))


class ItemKNN:
    """Item-to-item co-occurrence: items that appeared in the same sessions as the current
    one, by cosine similarity with shrinkage λ: sim(i, j) = n_ij / (√(n_i n_j) + λ), where
    n_ij counts sessions holding both (the GRU4Rec papers' item-kNN baseline). Popularity
    breaks ties among items never seen with the current one."""

    def __init__(self, shrinkage: float = 20.0):
        if isinstance(shrinkage, bool) or not isinstance(shrinkage, (int, float, np.number)) \
                or not np.isfinite(shrinkage) or shrinkage < 0:
            raise ValueError(f"shrinkage must be a finite number, 0 or more; got "
                             f"{shrinkage!r}.")  # below 0 the denominator can be 0 or negative
        self.shrinkage = shrinkage

    def fit(self, train: Sessions) -> ItemKNN:
        from scipy.sparse import csr_matrix  # sparse co-occurrence (a well-kept library)

        # an index past the item map failed in scipy's words; a DataFrame as AttributeError
        train = check_sessions(train, "train", events=False)
        rows = np.repeat(np.arange(train.n_sessions), np.diff(train.offsets))
        m = csr_matrix((np.ones(len(rows)), (rows, train.items)),
                       shape=(train.n_sessions, train.n_items))
        m.data[:] = 1.0  # presence, not counts
        co = (m.T @ m).tocsr()  # (n_items, n_items) sessions holding both
        counts = co.diagonal()
        co.setdiag(0)
        co.eliminate_zeros()
        co = co.tocoo()
        sim = co.data / (np.sqrt(counts[co.row] * counts[co.col]) + self.shrinkage)
        self.sim = csr_matrix((sim, (co.row, co.col)), shape=co.shape)
        pop = train.popularity()
        self.tiebreak = 1e-9 * pop / max(pop.max(), 1.0)
        return self

    def score_step(self, inputs, reset, active):
        _fitted(self, "sim")
        return self.sim[inputs].toarray() + self.tiebreak


def _fitted(baseline, attribute: str) -> None:
    if not hasattr(baseline, attribute):
        name = type(baseline).__name__
        raise RuntimeError(f"{name} is not fitted; call {name}().fit(train) before scoring.")
