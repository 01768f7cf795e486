"""Training the encoder–decoder on ``grukit.models``' ``train_loop``: teacher forcing on
batches of sentences of similar length (sorted into buckets, then shuffled batch by batch, so
little padding is computed), label-smoothed cross-entropy over the real target tokens,
gradient clipping, Adam with the learning rate halved when validation perplexity stops
improving; resumable from an epoch-end checkpoint (``ModelCheckpoint``'s file with the
task's state).

A step returns ``Step(loss, value, weight=tokens)``, so the epoch's loss is per target token.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from ...models.callbacks import Callback, History, ModelCheckpoint, is_main_process
from ...models.loop import Step, Trainee, resume_at_epoch_end, train_loop
from .. import _diverged
from .network import Seq2Seq, pad_batch
from .progress import TokenProgress
from .tokenizer import EOS_ID, PAD_ID

# nats a token above which a perplexity is reported as exp(700): exp leaves a float's range at
# 709.78 (a diverged or damaged model); below it the perplexity is exact (it was capped at 50)
PPL_CAP = 700.0


def make_batches(src: list, tgt: list, tokens: int, rng: np.random.Generator | None):
    """Index batches of about ``tokens`` source+target tokens each, of similar lengths;
    shuffled (within and across buckets) when ``rng`` is given."""
    n = len(src)
    lens = np.array([len(s) + len(t) for s, t in zip(src, tgt, strict=True)])
    if rng is not None:
        order = rng.permutation(n)
        order = order[np.argsort(lens[order], kind="stable")]
    else:
        order = np.argsort(lens, kind="stable")
    batches, cur, widest = [], [], 0
    for i in order:
        widest = max(widest, max(len(src[i]), len(tgt[i]) + 1))
        if cur and widest * 2 * (len(cur) + 1) > tokens:
            batches.append(cur)
            cur, widest = [], max(len(src[i]), len(tgt[i]) + 1)
        cur.append(int(i))
    if cur:
        batches.append(cur)
    if rng is not None:
        rng.shuffle(batches)
    return batches


def tensors(src: list, tgt: list, idx: list[int]):
    """(src (B, S), lengths (B,), tgt_in (B, T) = BOS + y, tgt_out (B, T) = y + EOS)."""
    s, lengths = pad_batch([src[i] for i in idx])
    t_in, _ = pad_batch([tgt[i] for i in idx], bos=True)
    t_out, _ = pad_batch([tgt[i] for i in idx], eos=EOS_ID)
    return s, lengths, t_in, t_out


@torch.no_grad()
def nll(net: Seq2Seq, src: list, tgt: list, tokens: int = 4000) -> tuple[float, int]:
    """(total nats, target tokens incl. EOS) of teacher-forced prediction: perplexity is
    exp(total / tokens)."""
    was = net.training
    net.eval()
    total, count = 0.0, 0
    try:
        for idx in make_batches(src, tgt, tokens, None):
            s, lengths, t_in, t_out = tensors(src, tgt, idx)
            logits = net(s, lengths, t_in)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t_out.reshape(-1),
                                     ignore_index=PAD_ID, reduction="sum").item()
            count += int((t_out != PAD_ID).sum())
    finally:
        net.train(was)
    return total, count


class _Plateau(Callback):
    """Halve the learning rate when validation perplexity did not improve (min 1e-5)."""

    def __init__(self, opt, box):
        self.opt, self.box = opt, box

    def on_epoch_end(self, epoch, logs=None):
        ppl = (logs or {}).get("val_ppl")
        if ppl is None:
            return
        if ppl < self.box["best"]:
            self.box["best"] = ppl
        else:
            for g in self.opt.param_groups:
                g["lr"] = max(g["lr"] * 0.5, 1e-5)


def fit_network(net: Seq2Seq, src: list, tgt: list, valid, cfg, *, callbacks=(),
                checkpoint: str | None = None, resume: str | None = None,
                config: dict | None = None, verbose=0):
    """Train ``net`` in place; ``valid``: (src ids, tgt ids) or None. ``checkpoint``: a file
    written at each epoch's end; ``resume``: such a file to continue from. Returns the
    ``History`` (``history.history`` has loss, val_loss, val_ppl, tokens_per_s; its
    ``run_train_seconds`` is the training time of the whole run, the epochs before a resume
    included, where ``train_seconds`` lists this call's epochs)."""
    torch.manual_seed(cfg.seed)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    # cpu: CPU seconds of training so far (clock="cpu"); wall: wall seconds of the run so far
    # (validation included, as train_loop's max_seconds counts), checkpointed, so that the
    # budget is the run's, as the cpu one is, not begun anew at each resume; train: the
    # update seconds of the epochs before this call (hist lists this call's)
    box = {"best": math.inf, "rng": np.random.default_rng(cfg.seed).bit_generator.state,
           "cpu": 0.0, "wall": 0.0, "started": time.perf_counter(), "train": 0.0}
    hist = History()

    def get_state():
        return {"best": box["best"], "rng": box["rng"], "cpu": box["cpu"],
                "wall": time.perf_counter() - box["started"],
                "train": box["train"] + sum(hist.train_seconds)}

    def set_state(extra):
        box["best"], box["rng"] = float(extra["best"]), extra["rng"]
        box["cpu"] = float(extra.get("cpu", 0.0))
        box["wall"] = float(extra.get("wall", 0.0))
        box["train"] = float(extra.get("train", 0.0))

    trainee = Trainee(net, opt, config=config or {}, state=(get_state, set_state))
    # clock="cpu": the budget counts this process's CPU time (on a shared machine, close to
    # what a quiet machine's wall clock would show for the same work with one thread)
    cpu_budget = cfg.max_seconds if getattr(cfg, "clock", "wall") == "cpu" else None
    wall_budget = None if cpu_budget is not None else cfg.max_seconds
    start = resume_at_epoch_end(trainee, opt, resume) if resume else 0
    # a budget the checkpoint had spent trains no more (an epoch of no batch would be logged)
    spent = (cpu_budget is not None and box["cpu"] >= cpu_budget) or (
        wall_budget is not None and box["wall"] >= wall_budget)
    speed = {"tokens": 0, "t0": 0.0}

    def batches(epoch):
        rng = np.random.default_rng()
        rng.bit_generator.state = box["rng"]
        order = make_batches(src, tgt, cfg.batch_tokens, rng)
        box["rng"] = rng.bit_generator.state  # the next epoch's shuffle, checkpointed
        speed["tokens"], speed["t0"] = 0, time.perf_counter()
        for idx in order:
            if cpu_budget is not None and box["cpu"] >= cpu_budget:
                trainee.stop_training = True  # validate this epoch's batches, then stop
                return
            t0 = time.process_time()
            yield tensors(src, tgt, idx)
            box["cpu"] += time.process_time() - t0  # the loop has stepped on this batch

    def step(batch):
        s, lengths, t_in, t_out = batch
        logits = net(s, lengths, t_in)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t_out.reshape(-1),
                               ignore_index=PAD_ID, label_smoothing=cfg.label_smoothing)
        n = int((t_out != PAD_ID).sum())
        speed["tokens"] += n + int(lengths.sum())
        return Step(loss, loss.item(), weight=n)

    def validate(epoch) -> dict:
        logs = {"tokens_per_s": speed["tokens"] / max(time.perf_counter() - speed["t0"],
                                                      1e-9)}
        if valid is not None:
            total, n = nll(net, valid[0], valid[1])
            logs["val_loss"] = total / max(n, 1)
            logs["val_ppl"] = math.exp(min(logs["val_loss"], PPL_CAP))
        return logs

    cbs = [_Plateau(opt, box), *callbacks]
    if checkpoint:
        cbs.append(ModelCheckpoint(checkpoint))
    steps = len(make_batches(src, tgt, cfg.batch_tokens, None))
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    if verbose == 1 and sys.stdout.isatty() and is_main_process():
        # the loop's bar shows the loss; this one adds tokens/s, per batch and per epoch
        cbs.append(TokenProgress(cfg.epochs, steps, speed))
        verbose = 0
    # the untrained network's validation loss, which training must beat (nll draws nothing)
    untrained = nll(net, *valid) if valid is not None and not start else None
    untrained = None if untrained is None else untrained[0] / max(untrained[1], 1)
    box["started"] = time.perf_counter() - box["wall"]  # the run's start, before any resume
    train_loop(trainee, opt, step, batches, epochs=start if spent else cfg.epochs,
               callbacks=cbs, validate=validate, clip=cfg.clip or None,
               max_seconds=wall_budget, started=box["started"], start_epoch=start,
               verbose=verbose, steps=steps, nonfinite="warn", fix="Lower lr.", history=hist)
    hist.run_train_seconds = box["train"] + sum(hist.train_seconds)
    if spent:
        hist.stop_reason = "max_seconds"
    net.eval()
    _diverged.check(hist, learning_rate=cfg.lr, untrained=untrained, what="the translator")
    return hist
