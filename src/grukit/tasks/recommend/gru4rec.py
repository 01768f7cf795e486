"""The GRU4Rec recommender: configuration, session-parallel training, recommendations."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from ...data.sessions import Sessions, check_event_values
from ..estimator import Estimator, check_flag, load_module_state
from .batching import check_sessions, session_parallel
from .evaluate import evaluate
from .items import ItemMap
from .model import CELLS, GRU4RecNet, bpr_max_loss, cross_entropy_loss

LOSSES = ("cross-entropy", "bpr-max")
OPTIMIZERS = ("adagrad", "adam")
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class GRU4RecConfig:
    """Defaults chosen on a validation split (the 7 days before the test days) of the
    Diginetica sample, never on its test days: tied embeddings help most on sparse data."""

    hidden: int = 100
    layers: int = 1
    cell: str = "gru"  # "lstm": the same network with LSTM cells, for the comparison
    loss: str = "cross-entropy"
    n_sample: int = 1024  # shared popularity-sampled negatives per mini-batch (0: in-batch)
    sample_alpha: float = 0.5  # sampling ∝ popularity^alpha (0: uniform, 1: popularity)
    logq: float = 0.0  # logQ correction weight for cross-entropy (1.0: full correction)
    bpreg: float = 1.0  # BPR-max score regularisation λ
    elu_param: float = 0.5  # BPR-max: ELU's α on the scores first (the official default; 0: none)
    batch_size: int = 32
    epochs: int = 20
    learning_rate: float = 0.05
    optimizer: str = "adagrad"
    tied: bool = True  # share input and output item embeddings
    dropout_embedding: float = 0.2
    dropout_hidden: float = 0.2
    seed: int = 0

    def check(self) -> None:
        """One sentence for the first setting out of range (nothing is replaced by a
        default)."""
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}; got {self.loss!r}.")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}; got {self.cell!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {self.optimizer!r}.")
        for name, least in (("hidden", 1), ("layers", 1), ("batch_size", 1), ("epochs", 1),
                            ("n_sample", 0), ("seed", 0)):
            whole(name, getattr(self, name), least)
            # numpy's whole numbers as int: the settings are saved as JSON, which has no int64
            setattr(self, name, int(getattr(self, name)))
        if self.seed >= 2 ** 64:  # torch's seeds are 64-bit: an overflow in torch
            raise ValueError(f"seed must be below 2**64; got {self.seed}.")
        if self.n_sample == 0 and self.batch_size == 1:  # one candidate: the positive alone
            raise ValueError("batch_size=1 with n_sample=0 leaves no negative item to score "
                             "against (the loss is 0 or NaN); raise batch_size or n_sample.")
        for name in ("sample_alpha", "logq", "bpreg", "elu_param", "learning_rate"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v < 0 or (name == "learning_rate" and v == 0):
                need = "above 0" if name == "learning_rate" else "0 or more"
                raise ValueError(f"{name} must be a finite number {need}; got {v!r}.")
        if self.learning_rate > FLOAT32_MAX:  # the optimizer steps in float32: an overflow
            raise ValueError(f"learning_rate must be at most {FLOAT32_MAX:.4g} (the largest "
                             f"float32); got {self.learning_rate!r}.")
        for name in ("dropout_embedding", "dropout_hidden"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
                raise ValueError(f"{name} must be a rate in [0, 1); got {v!r}.")
        # numpy's bool, 0 and 1 as Python's bool (saved as JSON); "False" is truthy: refused
        self.tied = check_flag(self.tied, "tied")


def whole(name: str, value, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be a whole number, {least} or more; got {value!r}.")


class GRU4Rec(Estimator):
    """Session-based next-item recommender (Hidasi et al.).

    >>> model = GRU4Rec(epochs=10).fit(train)         # Sessions, or events from read_events
    >>> model.recommend([214, 8837], k=20)            # the 20 likeliest next items (ids)
    >>> model.evaluate(test)                          # Recall@k, MRR@k over all items
    >>> model.save("rec"); GRU4Rec.load("rec")        # network, item map and popularity

    Item ids keep their type (ints or text); ``1.0`` finds item ``1``. ``recommend`` refuses
    ids the model has not seen, naming them (``unknown="skip"`` drops them instead) and an
    empty session (``popular(k)`` gives the cold-start list).
    """

    config_class = GRU4RecConfig

    def __init__(self, **config):
        self.config = GRU4RecConfig(**self._checked_settings(config))
        self.config.check()

    # -- training ----------------------------------------------------------------------------
    def fit(self, train, verbose: bool = False, *, callbacks=None,
            resume_from: str | None = None) -> GRU4Rec:
        """Train on ``train`` (Sessions, or a DataFrame of events: sessions shorter than 2
        dropped); returns self, the per-epoch loss and seconds in ``history_``.

        Training runs on ``grukit.models.loop.train_loop``: ``verbose`` shows a progress bar
        on a terminal (a line per epoch elsewhere), ``callbacks`` (``grukit.models``
        callbacks) see each epoch's ``loss``, and a ``ModelCheckpoint`` file written at an
        epoch's end resumes with ``resume_from`` to the numbers of an uninterrupted run
        (``epochs`` may differ)."""
        from ...models.callbacks import History
        from ...models.loop import Trainee, resume_at_epoch_end, train_loop
        from .. import _diverged

        cfg = self.config
        cfg.check()
        self.fitted_ = False  # a failed fit leaves no half-trained model behind
        # bpr_max_loss has no logQ term (refused here, not in check: a model saved with both
        # settings still loads)
        if cfg.logq and cfg.loss != "cross-entropy":
            raise ValueError(f"logq={cfg.logq!r} corrects the cross-entropy loss and does "
                             f"nothing with loss={cfg.loss!r}; set logq=0 or use "
                             f"loss='cross-entropy'.")
        if not isinstance(train, Sessions):
            from ...data.sessions import index_sessions

            _frame(train, "train")
            if train.empty:
                raise ValueError("the training events are empty; next-item training needs "
                                 "sessions of 2 or more events.")
            ItemMap.of(train["item"].unique())  # one id type: numbers and text do not sort
            train = index_sessions(train)[0]
        train = check_sessions(train, "train")
        items = ItemMap.of(train.vocab)
        if train.n_sessions < cfg.batch_size:
            raise ValueError(f"{train.n_sessions} training sessions cannot fill batch_size="
                             f"{cfg.batch_size} slots; lower batch_size.")
        _check_memory(cfg, train.n_items)
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        net = GRU4RecNet(train.n_items, cfg.hidden, cfg.layers, cfg.tied,
                         cfg.dropout_embedding, cfg.dropout_hidden, cfg.cell)
        opt_cls = torch.optim.Adagrad if cfg.optimizer == "adagrad" else torch.optim.Adam
        opt = opt_cls(net.parameters(), lr=cfg.learning_rate)
        popularity = train.popularity()
        with np.errstate(over="ignore"):  # an overflow is refused below
            q = torch.as_tensor(popularity ** cfg.sample_alpha, dtype=torch.float32)
        if not torch.isfinite(q.sum()):  # inf / inf: NaN, which torch.multinomial refuses
            raise ValueError(f"sample_alpha={cfg.sample_alpha} raises the largest item count "
                             f"({int(popularity.max())}) past float32's range; lower it "
                             f"(GRU4Rec samples with 0 to 1).")
        # logQ as GRU4Rec corrects it: an in-batch candidate (another session's next item) is
        # drawn as the data is, with Q ∝ popularity; a shared sample with Q ∝ popularity^alpha
        log_pop = torch.log(torch.as_tensor(popularity, dtype=torch.float32))  # (n_items,)
        log_q_sampled = torch.log(q)  # (n_items,) popularity^alpha, before normalising
        q = q / q.sum()  # (n_items,) sampling distribution
        history, carried = History(), {}

        def batches(epoch):
            carried["h"] = net.init_state(cfg.batch_size)  # (L, B, H)
            return session_parallel(train, cfg.batch_size, rng.permutation(train.n_sessions))

        def step(batch):
            inputs, targets, reset, _ = batch  # each (B,)
            h = carried["h"].detach()  # the state runs on across batches, its graph does not
            h[:, torch.from_numpy(reset)] = 0  # new sessions start from zero state
            out, carried["h"] = net.step(torch.from_numpy(inputs), h)
            tgt = torch.from_numpy(targets)
            log_q = log_pop[tgt]  # (B,)
            if cfg.n_sample > 0:
                neg = torch.multinomial(q, cfg.n_sample, replacement=True)
                cand = torch.cat([tgt, neg])  # (B + S,)
                log_q = torch.cat([log_q, log_q_sampled[neg]])  # (B + S,)
            else:
                cand = tgt  # in-batch negatives only
            scores = net.scores(out, cand)  # (B, B + S)
            if cfg.loss == "cross-entropy":
                return cross_entropy_loss(scores, log_q, cfg.logq)
            return bpr_max_loss(scores, cfg.bpreg, cfg.elu_param)

        def state() -> dict:
            return {"rng": rng.bit_generator.state,
                    "history": {"epoch": list(history.epoch), "history": history.history}}

        def load(extra: dict) -> None:
            rng.bit_generator.state = extra["rng"]
            history.epoch = list(extra["history"]["epoch"])
            history.history = {k: list(v) for k, v in extra["history"]["history"].items()}

        settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "epochs"}
        # the sessions are part of what a checkpoint resumes: another item map or other
        # sessions of the same size would load and train on silently (a checkpoint written
        # before the digest was kept has none, and resumes as it did)
        digest, written = _digest(train), _checkpoint_data(resume_from)
        if written is not None and written != digest:
            raise ValueError(f"resume_from {resume_from!r} was written while training on other "
                             f"sessions or another item map; resume it with the training data "
                             f"it was written on.")
        if resume_from is None or written is not None:
            settings["data"] = digest
        trainee = Trainee(net, opt, settings, (state, load))
        start_epoch = resume_at_epoch_end(trainee, opt, resume_from)
        first = _diverged.FirstBatch()  # the untrained network's loss (no validation here)
        train_loop(trainee, opt, step, batches, epochs=cfg.epochs, start_epoch=start_epoch,
                   callbacks=[*(callbacks or ()), first], history=history,
                   verbose="auto" if verbose else 0,
                   nonfinite="raise", seconds_key="seconds",
                   fix=f"Lower learning_rate (now {cfg.learning_rate})"
                   + (f" or logq (now {cfg.logq})" if cfg.logq else "")  # each may be the cause
                   + (f" or bpreg (now {cfg.bpreg})" if cfg.loss == "bpr-max" else "") + ".")
        _diverged.check(history, learning_rate=cfg.learning_rate, key="loss",
                        untrained=first.loss if start_epoch == 0 else None, what="GRU4Rec")
        self.net, self.items_, self.popularity_ = net, items, popularity
        self.history_ = history
        self.fitted_ = True
        return self

    # -- inference ---------------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        self._check_fitted("n_items")
        return len(self.items_)

    def index(self, events, min_length: int = 2) -> Sessions:
        """Events (DataFrame with ``session``, ``item``[, ``time``]) as Sessions on this
        model's item map: events on unseen items and sessions shorter than ``min_length``
        dropped, both counted in ``report``."""
        from ...data.sessions import to_sessions

        self._check_fitted("index")
        whole("min_length", min_length, 1)
        _frame(events, "events", sessions=False)  # Sessions are indexed already
        known = self.items_.known(events["item"])
        kept = events[known]
        size = kept.groupby("session")["item"].transform("size")
        long = kept[size >= min_length]
        mapped = long.assign(item=self.items_.canonical(long["item"]))
        report = {"events": len(long), "sessions": int(long["session"].nunique()),
                  "dropped_unseen_item_events": int((~known).sum()),
                  "dropped_short_sessions": int(kept.loc[size < min_length, "session"]
                                                .nunique())}
        return to_sessions(mapped, self.items_.ids, report)

    def scorer(self, batch_size: int):
        """A ``score_step`` for ``evaluate`` with the same ``batch_size``: carries one state per
        slot across steps."""
        self._check_fitted("scorer")
        whole("batch_size", batch_size, 1)
        self.net.eval()
        state = {"h": self.net.init_state(batch_size)}

        def score_step(inputs, reset, active):
            if len(inputs) != batch_size:  # a mask of another length failed deep in torch
                raise ValueError(f"this scorer carries {batch_size} session slots and was "
                                 f"given {len(inputs)}; make it with the batch_size that "
                                 f"evaluate is given (evaluate(model.scorer(b), test, "
                                 f"batch_size=b)).")
            with torch.no_grad():
                h = state["h"]
                h[:, torch.from_numpy(reset)] = 0
                out, state["h"] = self.net.step(torch.from_numpy(inputs), h)
                return self.net.scores(out).numpy()

        return score_step

    def evaluate(self, test, batch_size: int = 64) -> dict[str, float]:
        """Recall@k and MRR@k (k = 1, 5, 10, 20) of the next item over all items, every event
        of every test session predicted. ``test``: Sessions indexed with the training item map
        (``index_sessions(train_events, test_events)`` or ``model.index(events)``), or a
        DataFrame of events (indexed with ``index``)."""
        self._check_fitted("evaluate")
        whole("batch_size", batch_size, 1)
        if not isinstance(test, Sessions):
            _frame(test, "events")  # Sessions are taken here
            test = self.index(test)
        elif not self.items_.same(test.vocab):
            raise ValueError(f"the test sessions were indexed with another item map "
                             f"({len(test.vocab)} items, this model has {self.n_items}); "
                             f"index their events with model.index(events) or "
                             f"index_sessions(train_events, test_events).")
        test = check_sessions(test, "test", self.n_items)
        return evaluate(self.scorer(batch_size), test, batch_size)

    def popular(self, k: int | None = None) -> list:
        """The k items with the most training events (a cold-start list; k as in
        ``recommend``)."""
        self._check_fitted("popular")
        k = self._k(k)
        top = np.argsort(-self.popularity_, kind="stable")[:k]
        return self.items_.ids[top].tolist()

    def _check_k(self, k) -> None:
        whole("k", k, 1)
        if k > self.n_items:
            raise ValueError(f"k={k} is more than the {self.n_items} items this model knows; "
                             f"give k between 1 and {self.n_items}.")

    def _top_k(self, sessions: list[np.ndarray], k: int, batch: int = 256):
        """Item indices (S, k) and scores (S, k), best first (ties: lower index first), after
        each session's items (indices, oldest first; none empty)."""
        self.net.eval()
        top_i, top_s = [], []
        with torch.no_grad():
            for lo in range(0, len(sessions), batch):
                chunk = sessions[lo:lo + batch]
                lengths = torch.tensor([len(s) for s in chunk])  # (B,)
                seqs = torch.zeros(len(chunk), int(lengths.max()), dtype=torch.long)  # (B, T)
                for b, s in enumerate(chunk):
                    seqs[b, :len(s)] = torch.as_tensor(s, dtype=torch.long)
                h = self.net.init_state(len(chunk))  # (L, B, H)
                last = None
                for t in range(seqs.shape[1]):
                    out, h_new = self.net.step(seqs[:, t], h)
                    live = (t < lengths)[:, None]  # (B, 1): session still running
                    h = torch.where(live[None], h_new, h)
                    last = out if last is None else torch.where(live, out, last)
                scores = self.net.scores(last).numpy()  # (B, n_items)
                order = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (B, k)
                top_i.append(order)
                top_s.append(np.take_along_axis(scores, order, axis=1))
        return np.concatenate(top_i), np.concatenate(top_s)

    def _k(self, k) -> int:
        """``k`` checked; None: 20, or every item when the catalogue is smaller."""
        if k is None:
            return min(20, self.n_items)
        self._check_k(k)
        return k

    def recommend(self, session_items, k: int | None = None, unknown: str = "raise",
                  return_scores: bool = False) -> list:
        """The k likeliest next items (original ids, best first) after ``session_items``
        (original ids, oldest first); k defaults to 20 (every item when there are fewer) and
        may not exceed the catalogue. Ids the model never saw are refused, named
        (``unknown="skip"`` leaves them out); an empty session is refused (``popular(k)`` is
        the cold-start list). ``return_scores=True``: ``[(item, score), ...]``."""
        self._check_fitted("recommend")
        if unknown not in ("raise", "skip"):
            raise ValueError(f"unknown must be 'raise' or 'skip'; got {unknown!r}.")
        return_scores = check_flag(return_scores, "return_scores")  # "False" gave the pairs
        if hasattr(session_items, "__next__"):  # an iterator: read once, counted below
            session_items = list(session_items)
        seq = self.items_.lookup(session_items, "session_items", skip=unknown == "skip")
        k = self._k(k)
        if len(seq) == 0:
            said = "is empty" if len(session_items) == 0 else "holds no item this model knows"
            raise ValueError(f"session_items {said}; a next-item recommendation needs at "
                             f"least one item the model knows (popular(k) gives the "
                             f"cold-start list).")
        idx, scores = self._top_k([seq], k)
        ids = self.items_.ids[idx[0]].tolist()
        return list(zip(ids, scores[0].tolist(), strict=True)) if return_scores else ids

    def predict(self, events, k: int | None = None):
        """A table of recommendations for every session in ``events`` (a DataFrame of
        ``session``, ``item``[, ``time``]): columns ``session, rank, item, score`` (rank 1 =
        best), after each session's last event; k as in ``recommend`` (default 20, every item
        when there are fewer). Events on unseen items are skipped (counted in
        ``attrs["unknown_item_events"]``); sessions left with no known item get none (their
        ids in ``attrs["sessions_without_known_items"]``)."""
        import pandas as pd

        self._check_fitted("predict")
        k = self._k(k)
        s = self.index(events, min_length=1)
        without = sorted(set(events["session"].tolist()) - set(s.ids.tolist()), key=str)
        seqs = list(s)
        if seqs:
            idx, scores = self._top_k(seqs, k)
        else:
            idx, scores = np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        table = pd.DataFrame({
            "session": np.repeat(s.ids, k),
            "rank": np.tile(np.arange(1, k + 1), len(seqs)),
            "item": self.items_.ids[idx.reshape(-1)],
            "score": scores.reshape(-1).astype(np.float64)})
        table.attrs["unknown_item_events"] = s.report["dropped_unseen_item_events"]
        table.attrs["sessions_without_known_items"] = without
        return table

    def export_onnx(self, path: str) -> None:
        """Write one step of the network as ONNX (``grukit.tasks.recommend.export``): inputs
        ``item`` (B,) int64 (indices of the item map) and ``h0`` (layers, B, hidden), outputs
        ``scores`` (B, n_items) and ``h_n``; feeding a session's events one by one from a zero
        state gives the scores ``recommend`` ranks. Needs the ``onnx`` package."""
        from .export import step_to_onnx

        self._check_fitted("export_onnx")
        if self.config.cell != "gru":
            raise ValueError(f"export_onnx writes the GRU4Rec step with a GRU cell, and this "
                             f"model has cell={self.config.cell!r}; train it with cell='gru' "
                             f"to export it.")
        step_to_onnx(self.net, path)

    # -- saving ------------------------------------------------------------------------------
    def _state(self) -> tuple[dict, dict]:
        tensors = {f"network.{k}": v for k, v in self.net.state_dict().items()}
        tensors["popularity"] = np.asarray(self.popularity_, np.float64)  # (n_items,)
        item_tensors, item_extras = self.items_.state()
        tensors |= item_tensors
        extras = {"n_items": self.n_items, **item_extras,
                  "history": {"epoch": list(self.history_.epoch),
                              "history": self.history_.history}}
        return tensors, extras

    def _restore(self, tensors: dict, extras: dict) -> None:
        from ...models.callbacks import History

        where = "the saved GRU4Rec"
        try:
            n = int(extras["n_items"])
            items = ItemMap.restore(tensors, extras, n)
            popularity = tensors["popularity"].numpy()
            if popularity.shape != (n,):
                raise ValueError(f"popularity has shape {popularity.shape}, not ({n},)")
            history = History()
            history.epoch = [int(e) for e in extras["history"]["epoch"]]
            history.history = {str(k): [float(x) for x in v]
                               for k, v in extras["history"]["history"].items()}
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{where} is incomplete or inconsistent ({err}); save the model "
                             f"again.") from None
        cfg = self.config
        net = GRU4RecNet(n, cfg.hidden, cfg.layers, cfg.tied, cfg.dropout_embedding,
                         cfg.dropout_hidden, cfg.cell)
        load_module_state(net, tensors, "network.", where)
        net.eval()
        self.net, self.items_, self.popularity_, self.history_ = net, items, popularity, history


def _check_memory(cfg: GRU4RecConfig, n_items: int) -> None:
    """Refuse settings whose training cannot fit in this machine's memory, before any is
    taken (torch's allocator failed in a traceback, or an overflow, part way in). A lower
    bound in float32 bytes: the weights and their gradients,

        2 · (n_items · H · (1 if tied else 2) + layers · 2 · gates · H²)

    plus a step's candidate scores B · (B + n_sample) and their embeddings (B + n_sample) · H.
    """
    import os

    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no such count here (Windows)
        return
    h, b, s = cfg.hidden, cfg.batch_size, cfg.n_sample
    gates = 4 if cfg.cell == "lstm" else 3
    weights = n_items * h * (1 if cfg.tied else 2) + cfg.layers * 2 * gates * h * h
    need = 4 * (2 * weights + b * (b + s) + (b + s) * h)
    if need > ram:
        raise ValueError(f"hidden={h}, batch_size={b} and n_sample={s} over {n_items} items "
                         f"need at least {need / 2 ** 30:,.1f} GiB, more than this machine's "
                         f"{ram / 2 ** 30:,.1f} GiB of memory; lower them.")


def _digest(s: Sessions) -> str:
    """SHA-256 of the sessions and their item ids, oldest event first."""
    import hashlib
    import json

    h = hashlib.sha256(np.ascontiguousarray(s.items, np.int64).tobytes())
    h.update(np.ascontiguousarray(s.offsets, np.int64).tobytes())
    h.update(json.dumps([str(v) for v in s.vocab.tolist()]).encode())
    return h.hexdigest()


def _checkpoint_data(path: str | None) -> str | None:
    """The training data's digest a checkpoint was written with (None: none kept, or no
    path); a file that cannot be read is left to ``resume_at_epoch_end`` to name."""
    import json

    from ...models.saving import read_checkpoint

    if path is None:
        return None
    try:
        data = json.loads(read_checkpoint(path)["config"]).get("data")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return data if isinstance(data, str) else None


def _frame(events, what: str, sessions: bool = True) -> None:
    """``sessions``: Sessions are taken too (fit, evaluate), and the refusal says so."""
    import pandas as pd

    if not isinstance(events, pd.DataFrame):
        takes = "Sessions (grukit.data.index_sessions) or a DataFrame of events" if sessions \
            else "a DataFrame of events, not Sessions"  # which are indexed already
        raise TypeError(f"{what} must be {takes} (grukit.data.read_events); got a "
                        f"{type(events).__name__}.")
    missing = [c for c in ("session", "item") if c not in events.columns]
    if missing:
        raise ValueError(f"the {what} have no {' or '.join(map(repr, missing))} column "
                         f"(columns: {list(events.columns)}); read them with read_events.")
    noun = "training events" if what == "train" else what
    twice = [c for c in ("session", "item", "time") if list(events.columns).count(c) > 1]
    if twice:  # events[c] would be a table, and its checks fail in pandas' own words
        raise ValueError(f"the {noun} have {list(events.columns).count(twice[0])} columns "
                         f"named {twice[0]!r}; keep one.")
    # events are put in order by (session, time): a missing value would sort last (or drop
    # its event unseen), and text times sort as text ("10" before "9")
    check_event_values(events, noun)
