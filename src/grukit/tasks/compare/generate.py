"""Compare on character-level language modelling: tinyshakespeare by default (any UTF-8 text
file or folder with ``--data``), the last 10 % held out; metric validation loss in nats per
character (lower is better). Models: the cells (stacked, as char-rnn) plus the decoder-only
``transformer`` and the recurrent + attention ``hybrid`` of ``grukit.tasks.generate``.

Each run is a ``TextGenerator`` trained for ``--max-seconds`` of wall time (training only:
validation excluded; default ``DEFAULT_SECONDS``) or ``--epochs`` blocks of
``BLOCK_STEPS`` steps, whichever ends first. An "epoch" in the table is one such block of
``BLOCK_STEPS`` steps (batch 32 × 128 characters), after which the validation loss on the
first ``EVAL_TOKENS`` validation characters is recorded, so the learning curve is
validation loss against training time (``curve``: [seconds, nats/char] pairs). The test
metric is the loss on the whole validation text at the end; the train metric the loss on as
many characters at the end of the training text, scored the same way, so test − train is
the generalisation gap. Extra rows per run (``generation_profile`` at batch 1, after the
training): milliseconds per generated token (``gen_tokens_per_second`` is kept beside it)
and the state the model carries after ``max(GENERATED)`` generated tokens (recurrent states plus
key-value caches, bytes counted exactly).

Before a model's first run in the process, a tiny copy of it trains two steps (``_warm_up``),
so that compiling kernels is not charged to the first run's budget.

Sizes: equal parameters by default. The cells' sizing (``sizing.py``: one layer and a linear
head) knows no Transformer, so each model here is sized by its language model's own count
(embedding, layers, norms, tied head) to the GRU's at ``--hidden`` (default 256, two
layers). Per-model settings are those of the 5-minute rows in BENCHMARKS.md (``SETTINGS``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from .record import fit_record

DATA_HELP = ("a UTF-8 text file or folder of text files (default tinyshakespeare from "
             "$GRUKIT_SHARED_DATA/text)")
EXTRA_MODELS = {"transformer": "Transformer", "hybrid": "hybrid"}
TAKES_MAX_SECONDS = True

DEFAULT_SECONDS = 120.0  # each run's training budget when neither --max-seconds nor --epochs
BLOCK_STEPS = 50  # training steps per "epoch" (then a validation point on the curve)
EVAL_TOKENS = 16_384  # validation characters scored at each point of the curve
GENERATED = (100, 1000)  # state after this many generated tokens; speed over the longest
HIDDEN = 256  # the GRU's width
# per model: layers and peak learning rate as in BENCHMARKS.md's 5-minute rows; the cells
# not measured there take the GRU's
SETTINGS = {"transformer": {"layers": 4, "lr": 1e-3},
            "hybrid": {"layers": 3, "attention_every": 3, "lr": 2e-3}}
CELL_SETTINGS = {"layers": 2, "lr": 3e-3}
HEADS = 4


@dataclass
class TextData:
    name: str
    text: str


def settings(model: str) -> dict:
    """The TextGenerator settings of ``model`` beyond its width."""
    return dict(SETTINGS.get(model, CELL_SETTINGS))


def lm_params(model: str, width: int, vocab: int) -> int:
    """Parameters of the language model ``model`` at ``width`` (a tied weight once)."""
    import torch

    from ..generate.network import LanguageModel, NetSpec, count_params

    s = settings(model)
    spec = NetSpec(model, vocab, width, s["layers"], heads=HEADS,
                   attention_every=s.get("attention_every", 2))
    with torch.random.fork_rng():  # sizing leaves the caller's random stream alone
        return count_params(LanguageModel(spec))


def _step(model: str) -> int:
    """Widths are multiples of this: attention splits the width into HEADS heads of an even
    size (rotary positions rotate pairs)."""
    return 2 * HEADS if model in EXTRA_MODELS else 1


def width_for(model: str, target: int, vocab: int) -> int:
    """The width (a multiple of ``_step(model)``) whose parameter count is closest to
    ``target``; the count grows with the width, so a bisection finds it."""
    step = _step(model)
    lo, hi = 1, 2
    while lm_params(model, hi * step, vocab) < target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # count(lo·step) < target ≤ count(hi·step)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if lm_params(model, mid * step, vocab) < target else (lo, mid)
    best = min((lo, hi), key=lambda k: abs(lm_params(model, k * step, vocab) - target))
    return best * step


def widths(models, budget: str, hidden: int, vocab: int) -> dict[str, int]:
    """Width per model: ``hidden`` for all (equal-hidden), or each sized to the GRU language
    model's parameter count at ``hidden`` (equal-params)."""
    from .sizing import BUDGETS

    if budget not in BUDGETS:
        raise ValueError(f"--budget must be one of {', '.join(BUDGETS)}; got {budget!r}.")
    if budget == "equal-hidden":
        return {m: hidden for m in models}
    target = lm_params("gru", hidden, vocab)
    return {m: hidden if m == "gru" else width_for(m, target, vocab) for m in models}


def _default_data() -> str:
    shared = os.environ.get("GRUKIT_SHARED_DATA")
    path = os.path.join(shared, "text", "tinyshakespeare.txt") if shared else None
    if path and os.path.isfile(path):
        return path
    raise ValueError("--task generate needs --data (a UTF-8 text file or folder), or "
                     "GRUKIT_SHARED_DATA set to the folder holding text/tinyshakespeare.txt.")


def prepare(task_class, data: str | None):
    from ..generate.data import read_text, split_text
    from ..generate.vocab import make_vocab

    path = data or _default_data()
    try:
        text = read_text(path)
    except (OSError, ValueError) as err:  # sentences naming the file and the problem
        raise ValueError(f"--data: {err}") from None
    if not text.strip():
        raise ValueError(f"--data: {path!r} holds no text (empty or only whitespace); give "
                         f"the text to learn.")
    train, val = split_text(text, 0.1)
    vocab = make_vocab("char").fit(train).size

    class GenerateTask(task_class):
        def widths(self, models, budget, hidden=None):
            return widths(models, budget, self.hidden if hidden is None else hidden,
                          self.inputs)

    name = os.path.basename(os.path.normpath(path))
    per_model = "; ".join(f"{m}: {s['layers']} layers, lr {s['lr']:g}"
                          for m, s in [("cells", CELL_SETTINGS), *SETTINGS.items()])
    return GenerateTask(
        f"generate:{name}", "nats/char", True, vocab, vocab, HIDDEN, TextData(name, text),
        {"data": f"{name}: {len(train):,} training, {len(val):,} validation characters (the "
                 f"last 10 %), {vocab} symbols",
         "training": f"batch 32 × 128 characters, AdamW, warm-up 50 steps, cosine decay over "
                     f"the budget (wall time, validation excluded); an epoch is "
                     f"{BLOCK_STEPS} steps, validated on the first {EVAL_TOKENS:,} "
                     f"validation characters; the test metric scores all of them",
         "models": per_model + "; tied embeddings; recurrent models trained with their "
                               "state carried across windows, the Transformer on random "
                               "windows",
         "generation rows": f"batch 1, one sampled continuation of {max(GENERATED):,} "
                            f"tokens after the training; state = recurrent states + "
                            f"key-value caches"},
        budget="equal-params", rows=rows())


def rows() -> list[tuple]:
    """The extra table rows: (record key, label, lower is better, kind)."""
    return [("gen_ms_per_token", "generation at batch 1 (ms per token)", True, "time"),
            ("state_bytes_end", f"state after {max(GENERATED):,} generated tokens (bytes)",
             True, "bytes")]


_WARM: set[str] = set()


def _warm_up(model: str, text: str) -> None:
    """Two training steps and a few generated tokens of a tiny ``model`` before its first
    timed run in this process: kernels compiled or loaded on first call (numba) and lazy
    imports are then not charged to the first run's time budget."""
    from ..generate import TextGenerator

    if model in _WARM:
        return
    s = settings(model)
    tiny = TextGenerator(model=model, hidden=2 * HEADS, heads=HEADS, layers=s["layers"],
                         attention_every=s.get("attention_every", 2), batch_size=2,
                         seq_len=16, max_steps=2, eval_every=2, eval_tokens=64,
                         checkpoint_every=0)
    tiny.fit(text=text[:4000])
    tiny.generate(text[0], 4)
    _WARM.add(model)


def _stop_reason(reason: str | None, epochs: int | None) -> str | None:
    """The generator's "max_seconds=120" / "max_steps=500" -> record.LIMITS' keys."""
    if not reason:
        return None
    if reason.startswith("max_seconds"):
        return "max_seconds"
    if reason.startswith("max_steps"):
        return "max_epochs" if epochs else "max_steps"
    return reason


def run(task, model: str, hidden: int, seed: int, *, epochs: int | None,
        max_seconds: float | None):
    """One model, one seed -> (record, its stacked recurrent module or None).

    The module (for compare's latency rows) is returned for the stacked cells only: the
    hybrid, the Transformer and the cells built in residual blocks have no single
    recurrent module whose streaming step stands for the model."""
    from ..generate import TextGenerator
    from ..generate.measure import generation_profile

    if max_seconds is None and not epochs:
        max_seconds = DEFAULT_SECONDS
    s = settings(model)
    _warm_up(model, task.data.text)
    gen = TextGenerator(model=model, hidden=hidden, heads=HEADS, seed=seed,
                        max_seconds=float(max_seconds or 0.0),
                        max_steps=(epochs or 0) * BLOCK_STEPS, eval_every=BLOCK_STEPS,
                        eval_tokens=EVAL_TOKENS, checkpoint_every=0, **s)
    gen.fit(text=task.data.text)
    res = gen.result_
    curve = [c for c in res["curve"] if "val_loss" in c]
    secs, prev = [], 0.0
    for c in curve:  # training seconds per block (the curve holds the running total)
        secs.append(c["seconds"] - prev)
        prev = c["seconds"]
    # a time limit validates the block under way and stops: fewer steps than a block
    steps = [0] + [c["step"] for c in curve]
    partial = len(curve) > 0 and steps[-1] - steps[-2] < BLOCK_STEPS
    nats = math.log(2)
    test = res["val_bits_per_char"] * nats
    val_text_len = res["val_chars"]
    train_text = task.data.text[:res["train_chars"]]
    tail = train_text[-val_text_len:]
    train = gen.evaluate(text=tail)["bits_per_char"] * nats
    prof = generation_profile(gen, GENERATED, prompt=tail[-1:] or "\n", seed=seed)
    tps = prof["tokens_per_second"]
    rec = fit_record(secs, [c.get("loss", math.nan) for c in curve],
                     [c["val_loss"] for c in curve], params=res["params"],
                     train_metric=train, test_metric=test, patience=None,
                     stop_reason=_stop_reason(res["stop_reason"], epochs),
                     last_epoch_partial=partial,
                     steps=res["steps"], block_steps=BLOCK_STEPS, vocab=res["vocab_size"],
                     train_seconds=res["train_seconds"],
                     curve=[[c["seconds"], c["val_loss"]] for c in curve],
                     val_bits_per_char=res["val_bits_per_char"],
                     gen_tokens_per_second=tps,
                     gen_ms_per_token=1e3 / tps if tps else None,
                     state_bytes=prof["state_bytes_at"],
                     state_bytes_end=prof["state_bytes_at"][max(GENERATED)],
                     settings=s)
    net = gen.network_
    return rec, net.rnn if net.layout == "stacked" else None
