"""Training a language model: truncated backpropagation through time with the state carried
from window to window (stateful, as char-rnn), or random fixed windows (nanoGPT), under a
step and a wall-time budget; validation loss in nats per token on the way.

The loop is ``grukit.models``' ``train_loop``: the batch source below yields consecutive
windows (or random ones), the step carries (and detaches) the state between them, and one
loop "epoch" is ``eval_every`` steps followed by validation, so callbacks see
``on_epoch_end(k, {"loss", "step", "seconds", "val_loss"})`` after each validation.

Stateful batches: the training stream is cut into B rows (``data.streams``); window k is
columns [kT, (k+1)T) of every row, and the state after window k (detached) starts window
k + 1, so row b sees its text in order. Each epoch starts from zero state.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ...models.callbacks import Callback
from .. import _diverged
from .data import random_windows, streams, windows
from .network import LanguageModel, carry, loss_on


@dataclass
class TrainState:
    """Where training is: what a checkpoint holds besides the weights and the optimizer."""

    step: int = 0
    seconds: float = 0.0  # training time so far (validation excluded), by cfg.clock
    epoch: int = 0
    window: int = 0  # next window of the epoch (stateful batches)
    curve: list = field(default_factory=list)  # [{"step", "seconds", "loss", "val_loss"}]
    stop_reason: str = ""


def learning_rate(cfg, progress: float, step: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to lr/10 as ``progress`` (the
    larger of steps and seconds spent, as fractions of their budgets) goes to 1."""
    warm = min(1.0, (step + 1) / cfg.warmup) if cfg.warmup else 1.0
    if not cfg.decay:
        return cfg.lr * warm
    p = min(max(progress, 0.0), 1.0)
    return cfg.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def evaluate_ids(net: LanguageModel, ids, batch: int, seq_len: int, stateful: bool,
                 limit: int | None = None) -> tuple[float, int]:
    """(total nats, tokens scored) of next-token prediction on the stream ``ids``.

    Stateful models carry their state across windows (each of the ``batch`` rows from zero
    state). The others read windows of ``seq_len`` tokens every ``seq_len // 2`` tokens
    and score the second half of each (the first window whole), so every token but the
    first ``seq_len`` is predicted from at least ``seq_len // 2`` tokens of context, as
    a carried state would give it. ``limit``: score at most this many tokens (from the
    start)."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    if limit is not None:
        ids = ids[: limit + 1]
    total, count, state = 0.0, 0, None
    was = net.training
    net.eval()
    try:
        with torch.no_grad():
            if stateful:
                batch = max(1, min(batch, (len(ids) - 1) // max(seq_len, 1) or 1))
                rows = streams(ids.numpy(), batch)  # (B, N/B)
                for _, x, y in windows(rows, seq_len):
                    loss, state = loss_on(net, x, y, state)
                    state = carry(state)
                    total += loss.item() * y.numel()
                    count += y.numel()
            else:
                total, count = _strided(net, ids, batch, seq_len)
    finally:
        net.train(was)
    return total, count


def _strided(net: LanguageModel, ids: torch.Tensor, batch: int, seq_len: int):
    t = min(seq_len, len(ids) - 1)
    stride = max(1, t // 2)
    wins = ids.unfold(0, t + 1, stride)  # (W, T + 1)
    total, count = 0.0, 0
    for k in range(0, len(wins), batch):
        w = wins[k:k + batch]
        logits, _ = net(w[:, :-1])  # (b, T, V)
        nll = F.cross_entropy(logits.transpose(1, 2), w[:, 1:], reduction="none")  # (b, T)
        first = 1 if k == 0 else 0
        if first:  # the first window is scored whole
            total += nll[0].sum().item()
            count += t
        total += nll[first:, t - stride:].sum().item()
        count += nll[first:, t - stride:].numel()
    # the targets after the last window (fewer than stride): one more window ending at the
    # last token scores them, each with at least t - stride tokens of context
    rest = len(ids) - 1 - ((len(wins) - 1) * stride + t)
    if rest:
        w = ids[-(t + 1):]  # (T + 1,)
        logits, _ = net(w[None, :-1])  # (1, T, V)
        total += F.cross_entropy(logits[0, -rest:], w[-rest:], reduction="sum").item()
        count += rest
    return total, count


def train_lm(net: LanguageModel, train_ids, val_ids, cfg, *, state: TrainState | None = None,
             optimizer=None, callbacks=(), checkpoint=None, carried=None) -> TrainState:
    """Train ``net`` in place on ``grukit.models``' ``train_loop``. ``cfg``: a
    ``GeneratorConfig``; ``state`` / ``optimizer`` / ``carried`` (the stateful batches'
    carried state): where a resumed run stopped. ``checkpoint(state, optimizer, carried)``
    is called every ``checkpoint_every`` steps and at the end. Stops at ``max_steps``, after
    ``max_seconds`` of training (by ``cfg.clock``, validation excluded), or when a callback
    sets ``stop_training``. One loop "epoch" is ``eval_every`` steps, then validation."""
    from ...models.loop import train_loop

    st = state or TrainState()
    opt = optimizer or make_optimizer(net, cfg)
    stateful = cfg.batching == "stateful"
    train_ids = torch.as_tensor(train_ids, dtype=torch.long)
    rows = streams(train_ids.numpy(), cfg.batch_size) if stateful else None
    if stateful and rows.shape[1] < 2:
        raise ValueError(f"the training text has {len(train_ids)} tokens, too few for "
                         f"batch_size={cfg.batch_size} rows; lower batch_size or give more "
                         f"text.")
    if not stateful and len(train_ids) <= cfg.seq_len + 1:
        raise ValueError(f"the training text has {len(train_ids)} tokens, fewer than "
                         f"seq_len={cfg.seq_len} + 2; lower seq_len or give more text.")
    per_epoch = math.ceil((rows.shape[1] - 1) / cfg.seq_len) if stateful else 0
    gen = torch.Generator()  # random windows: seeded by the step (below)
    budget_s = cfg.max_seconds or math.inf
    # "cpu": seconds of this process's CPU time, which other processes on a shared machine
    # do not inflate (single-threaded, a quiet machine's wall time for the same work)
    clock = time.process_time if cfg.clock == "cpu" else time.perf_counter
    box = {"carried": carried}  # the state carried from step to step
    trainee = None

    def out_of_budget() -> str:
        if cfg.max_steps and st.step >= cfg.max_steps:
            return f"max_steps={cfg.max_steps}"
        if st.seconds >= budget_s:
            return f"max_seconds={cfg.max_seconds:g}"
        return ""

    every = cfg.eval_every or 10**12

    def batches(epoch):
        """The windows up to the next multiple of ``eval_every`` steps (fewer at the budget's
        end; a run resumed between two validations validates where an unbroken run does); the
        time from one window to the next (forward, backward, update) is the training time."""
        for _ in range(every - st.step % every):
            reason = out_of_budget()
            if reason:
                st.stop_reason, trainee.stop_training = reason, True
                return
            if stateful:
                if st.window >= per_epoch:
                    st.epoch, st.window, box["carried"] = st.epoch + 1, 0, None
                i = st.window * cfg.seq_len
                t = min(cfg.seq_len, rows.shape[1] - 1 - i)
                x, y = rows[:, i:i + t], rows[:, i + 1:i + 1 + t]  # (B, T)
                st.window += 1
            else:
                # step k's windows depend on the seed and k alone, so a run resumed from a
                # checkpoint draws the windows an unbroken run draws
                gen.manual_seed(cfg.seed + 7919 * st.step)
                x, y = random_windows(train_ids, cfg.batch_size, cfg.seq_len, gen)
            progress = max(st.step / cfg.max_steps if cfg.max_steps else 0.0,
                           st.seconds / budget_s if cfg.max_seconds else 0.0)
            for g in opt.param_groups:
                g["lr"] = learning_rate(cfg, progress, st.step)
            t0 = clock()
            yield x, y
            st.seconds += clock() - t0  # the loop has stepped on (x, y)
            st.step += 1
            if checkpoint is not None and cfg.checkpoint_every and \
                    st.step % cfg.checkpoint_every == 0:
                if st.step % every:
                    checkpoint(st, opt, box["carried"])
                else:  # after this step's validation (_Curve), or the curve would lack it
                    box["due"] = True
            reason = out_of_budget()
            if reason:  # validate this epoch's steps, then stop
                st.stop_reason, trainee.stop_training = reason, True
                return

    def step(batch):
        x, y = batch
        loss, new_state = loss_on(net, x, y, box["carried"] if stateful else None)
        box["carried"] = carry(new_state) if stateful else None
        return loss

    def validate(epoch) -> dict:
        logs = {"step": st.step, "seconds": round(st.seconds, 3)}
        if val_ids is not None and len(val_ids) > 1:
            total, n = evaluate_ids(net, val_ids, cfg.eval_batch_size, cfg.seq_len,
                                    stateful, cfg.eval_tokens or None)
            logs["val_loss"] = total / max(n, 1)
        return logs

    class _Curve(Callback):
        def on_epoch_end(self, epoch, logs=None):
            st.curve.append(dict(logs or {}))
            if box.pop("due", False):
                checkpoint(st, opt, box["carried"])

    from ...models.loop import Trainee

    trainee = Trainee(net, opt, config={})
    untrained = None  # the untrained network's validation loss, which training must beat
    if state is None and val_ids is not None and len(val_ids) > 1:
        untrained = validate(0).get("val_loss")  # evaluation draws no random numbers
    if not out_of_budget():
        hist = train_loop(trainee, opt, step, batches, epochs=len(st.curve) + 10**9,
                          start_epoch=len(st.curve), callbacks=[_Curve(), *callbacks],
                          validate=validate, clip=cfg.clip or None, nonfinite="warn",
                          fix="Lower lr.")
        _diverged.check(hist, learning_rate=cfg.lr, untrained=untrained,
                        what="the language model")
        if hist.stop_reason in ("callback", "nonfinite") and not st.stop_reason:
            st.stop_reason = {"callback": "stopped by a callback",
                              "nonfinite": "the loss became NaN/Inf; lower lr"}[
                hist.stop_reason]
    else:
        st.stop_reason = out_of_budget()
    if not st.curve:
        st.curve.append({"step": st.step} | validate(0))
    if checkpoint is not None:
        checkpoint(st, opt, box["carried"])
    net.eval()
    return st


def make_optimizer(net: LanguageModel, cfg) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (not on biases, norms or the embedding's rows
    when they are not tied), as nanoGPT."""
    decay, rest = [], []
    for p in {id(p): p for p in net.parameters()}.values():
        (decay if p.dim() >= 2 else rest).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99))
