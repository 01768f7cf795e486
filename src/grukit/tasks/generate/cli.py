"""``grukit generate``: train a language model on text, evaluate it, sample from it.

    grukit generate train --data input.txt --model gru --minutes 5 --save shakespeare-gru \\
        --output runs/gru                 # metrics.json as it goes, checkpoint.pt, --resume
    grukit generate --model shakespeare-gru --prompt "ROMEO:" --length 500
    grukit generate evaluate --model shakespeare-gru --data held-out.txt
"""

from __future__ import annotations

import json
import os
import sys

from ..._io import atomic_text
from ..._runs import RUN, UsageError, at_least, prepare_output
from ...models.callbacks import Callback
from ..estimator import prepare_save
from .checkpoint import read_checkpoint, write_checkpoint
from .network import model_names

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"
BUDGET = ("max_steps", "max_seconds")
SAMPLE_ONLY = ("prompt", "length", "temperature", "top_k", "top_p")
TRAIN_ONLY = ("hidden", "layers", "tokenizer", "vocab_size", "seq_len", "batch_size", "lr",
              "dropout", "steps", "minutes", "batching", "save", "resume", "cell", "heads",
              "attention_every", "clock", "threads")


def add_parser(sub) -> None:
    p = sub.add_parser("generate", help="train a character/sub-word language model and "
                                        "generate text",
                       description="train: a language model (a recurrent cell, the GRU + "
                                   "attention hybrid or a Transformer) on a text file, a "
                                   "folder of text files or a CSV column, the last 10%% held "
                                   "out; sample (default): text from a model saved with "
                                   "--save; evaluate: loss in nats and bits per character.")
    p.add_argument("action", nargs="?", choices=("sample", "train", "evaluate"),
                   default="sample", help="sample (default), train or evaluate")
    p.add_argument("--data", help="train/evaluate: a text file, a folder of text files, or a "
                                  "CSV file with --column")
    p.add_argument("--column", help="the CSV column holding the text (name or 0-based index)")
    p.add_argument("--model", help=f"train: one of {', '.join(model_names())} (default gru); "
                                   f"sample/evaluate: the folder written by --save")
    p.add_argument("--cell", help="the hybrid's recurrent cell (default gru)")
    p.add_argument("--hidden", type=int, help="width (default 256)")
    p.add_argument("--layers", type=int, help="layers or blocks (default 2)")
    p.add_argument("--heads", type=int, help="attention heads (default 4)")
    p.add_argument("--attention-every", type=int, help="hybrid: every k-th block is attention "
                                                       "(default 2)")
    p.add_argument("--tokenizer", choices=("char", "bpe"), help="char (default) or bpe")
    p.add_argument("--vocab-size", type=int, help="BPE vocabulary size (default 2000)")
    p.add_argument("--seq-len", type=int, help="BPTT window / context (default 128)")
    p.add_argument("--batch-size", type=int, help="default 32")
    p.add_argument("--lr", type=float, help="peak learning rate (default 2e-3)")
    p.add_argument("--dropout", type=float, help="dropout between layers (default 0)")
    p.add_argument("--batching", choices=("auto", "stateful", "windows"),
                   help="stateful: state carried across windows (truncated BPTT); windows: "
                        "random windows (default auto: windows for the Transformer)")
    p.add_argument("--steps", type=int, help="most training steps (default 1000; 0: no limit "
                                             "with --minutes)")
    p.add_argument("--minutes", type=float, help="most minutes of training")
    p.add_argument("--clock", choices=("wall", "cpu"),
                   help="what --minutes counts: wall time (default) or this process's CPU "
                        "time (a budget that other work on a shared machine does not eat)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--save", help="train: the folder to save the model to")
    p.add_argument("--output", help="train: a folder for metrics.json, a checkpoint and a "
                                    "sample")
    p.add_argument("--resume", action="store_true", default=None,
                   help="continue the run in --output")
    # sampling flags default to None so that train and evaluate can tell they were given
    p.add_argument("--prompt", help="sample: the text to continue (default: none, the text "
                                    "starts after a newline)")
    p.add_argument("--length", type=int, help="sample: tokens to generate (default 500)")
    p.add_argument("--temperature", type=float, help="sample: default 1 (0: the most likely "
                                                     "token)")
    p.add_argument("--top-k", type=int, help="sample: keep the k most likely tokens")
    p.add_argument("--top-p", type=float, help="sample: keep the most likely tokens up to "
                                               "this probability (default 1)")
    p.add_argument("--seed", type=int, help="seed of training or sampling (default 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    unused = {"train": SAMPLE_ONLY, "evaluate": SAMPLE_ONLY + ("seed", "output"),
              "sample": ("data", "column", "output")}[args.action]
    given = [f"--{n.replace('_', '-')}" for n in unused if getattr(args, n) is not None]
    if given:
        raise UsageError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} not used by "
                         f"{args.action}; drop {'it' if len(given) == 1 else 'them'}.")
    if args.action == "train":
        return _train(args)
    # given whatever its value (--seq-len 0, --lr 0): only None is "not given"
    given = [f"--{n.replace('_', '-')}" for n in TRAIN_ONLY if getattr(args, n) is not None]
    if given:
        raise UsageError(f"{', '.join(given)} set(s) training; {args.action} uses the saved "
                         f"model's settings, so drop {'it' if len(given) == 1 else 'them'}.")
    if not args.model or args.model in model_names():
        raise UsageError(f"{args.action} needs --model DIR, the folder written by `grukit "
                         f"generate train ... --save DIR`.")
    gen = _load(args.model)
    if args.action == "evaluate":
        if not args.data:
            raise UsageError("evaluate needs --data, the text to score.")
        scores = gen.evaluate(args.data, column=args.column)
        print(json.dumps(scores, indent=1))
        return 0
    prompt, length = args.prompt or "", 500 if args.length is None else args.length
    at_least("--length", length, 1)
    shown = []  # the prompt is echoed with the first piece: a refused setting prints nothing

    def show(piece: str) -> None:
        if not shown:
            sys.stdout.write(prompt)
            shown.append(True)
        sys.stdout.write(piece)
        sys.stdout.flush()

    gen.generate(prompt, length, top_k=args.top_k, seed=args.seed or 0, on_text=show,
                 temperature=1.0 if args.temperature is None else args.temperature,
                 top_p=1.0 if args.top_p is None else args.top_p)
    st = gen.last_stats_
    print(f"\n\n[{st['tokens']} tokens in {st['seconds']:.2f} s: "
          f"{st['tokens_per_second']:.0f} tokens/s; state {st['state_bytes']:,} bytes]",
          file=sys.stderr)
    return 0


def _load(path: str):
    from .generator import TextGenerator

    if not os.path.isdir(path):
        raise UsageError(f"--model {path!r} is not a folder; give the folder written by "
                         f"`grukit generate train ... --save DIR`.")
    return TextGenerator.load(path)


def _settings(args) -> dict:
    pairs = {"model": args.model, "cell": args.cell, "hidden": args.hidden,
             "layers": args.layers, "tokenizer": args.tokenizer, "heads": args.heads,
             "attention_every": args.attention_every, "clock": args.clock,
             "threads": args.threads,
             "vocab_size": args.vocab_size, "seq_len": args.seq_len,
             "batch_size": args.batch_size, "lr": args.lr, "dropout": args.dropout,
             "batching": args.batching, "max_steps": args.steps, "seed": args.seed}
    out = {k: v for k, v in pairs.items() if v is not None}
    if args.minutes is not None:
        if not args.minutes > 0:
            raise UsageError(f"--minutes must be above 0; got {args.minutes}.")
        out["max_seconds"] = 60.0 * args.minutes
        out.setdefault("max_steps", 0)
    return out


def _train(args) -> int:
    from .generator import TextGenerator

    if not args.data:
        raise UsageError("train needs --data: a text file, a folder of text files, or a CSV "
                         "file with --column.")
    if args.model is not None and args.model not in model_names():
        hint = (" (a saved model is used with `grukit generate --model DIR`)"
                if os.path.isdir(args.model) else "")
        raise UsageError(f"--model must be one of {', '.join(model_names())} for training; "
                         f"got {args.model!r}{hint}.")
    for flag, v, least in (("--hidden", args.hidden, 1), ("--layers", args.layers, 1),
                           ("--seq-len", args.seq_len, 1), ("--batch-size", args.batch_size, 1),
                           ("--steps", args.steps, 0), ("--threads", args.threads, 1)):
        at_least(flag, v, least)
    if args.resume and not args.output:
        raise UsageError("--resume continues a run: give it with the --output folder of that "
                         "run.")
    out = prepare_output(args.output)
    if args.save:
        prepare_save(args.save, output=out)
    settings = _settings(args)
    resume = None
    ckpt_path = os.path.join(out, CHECKPOINT) if out else None
    if ckpt_path and not args.resume and os.path.isfile(ckpt_path):
        raise UsageError(f"--output {args.output!r} holds a run already; continue it with "
                         f"--resume or give a new folder.")
    if args.resume:
        if not os.path.isfile(ckpt_path):
            raise UsageError(f"--resume: {args.output!r} holds no {CHECKPOINT}; run without "
                             f"--resume to start.")
        resume = read_checkpoint(ckpt_path)
        budget = {k: settings.pop(k) for k in BUDGET if k in settings}  # may grow
        if args.steps is None:  # --minutes alone: the run's step limit stays (it was none)
            budget.pop("max_steps", None)
        changed = sorted(k for k, v in settings.items() if resume["config"].get(k) != v)
        if changed:
            raise UsageError(f"--resume: the run in {args.output!r} was started with other "
                             f"settings ({', '.join(changed)}); give the same flags (or none; "
                             f"--steps and --minutes may change).")
        gen = TextGenerator(**(resume["config"] | budget))
    else:
        gen = TextGenerator(**settings)
    _refuse_unused(args, gen.config)
    RUN.start(out, resumable=out is not None)
    callbacks = [_Progress(out, resume["state"].curve if resume else None,
                           gen.config.max_steps)]
    checkpoint = None
    if out:
        def checkpoint(g, st, opt, carried):
            with RUN.saving(f"step {st.step}"):  # a Ctrl-C waits until the line is true
                write_checkpoint(ckpt_path, g, st, opt, carried)

    try:
        gen.fit(args.data, column=args.column, callbacks=callbacks, checkpoint=checkpoint,
                resume=resume)
    except KeyboardInterrupt:  # before the first checkpoint there is no run to --resume
        RUN.resumable = ckpt_path is not None and os.path.isfile(ckpt_path)
        raise
    res = gen.result_
    line = (f"{gen.config.model}: {res['params']:,} parameters, {res['steps']} steps in "
            f"{res['train_seconds']:.0f} s ({res['stop_reason']})")
    if "val_loss" in res:
        line += (f"; validation {res['val_loss']:.4f} nats/token, "
                 f"{res['val_bits_per_char']:.4f} bits/char, perplexity "
                 f"{res['val_perplexity']:.2f}")
    print(line)
    if args.save:  # first: nothing after training may lose the model
        gen.save(args.save)
        print(f"saved to {args.save}; generate with `grukit generate --model {args.save} "
              f"--prompt \"...\"`")
    if out:
        atomic_text(os.path.join(out, METRICS), json.dumps(
            {"config": gen.get_config(), "result": res}, indent=1))
        sample = gen.generate("", 300, temperature=0.8, seed=0)
        atomic_text(os.path.join(out, "sample.txt"), sample)
    return 0


def _refuse_unused(args, cfg) -> None:
    """One sentence for a flag the chosen model or tokenizer has no use for (it would be
    ignored without a word)."""
    uses = (("vocab_size", cfg.tokenizer == "bpe", "--tokenizer bpe"),
            ("cell", cfg.model == "hybrid", "--model hybrid"),
            ("attention_every", cfg.model == "hybrid", "--model hybrid"),
            ("heads", cfg.model in ("hybrid", "transformer"), "--model hybrid or transformer"))
    for name, used, needs in uses:
        if getattr(args, name) is not None and not used:
            raise UsageError(f"--{name.replace('_', '-')} applies only with {needs}; drop it "
                             f"or choose that.")


class _Progress(Callback):
    """One line per validation (loss, val_loss, time), metrics.json rewritten each time; on a
    terminal, a progress bar over the steps in between."""

    def __init__(self, out: str | None, curve: list | None = None, total: int | None = None):
        self.out, self.curve, self.total = out, list(curve or []), total or None
        self.bar = None

    def on_train_begin(self, logs=None):
        if sys.stdout.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("training"), BarColumn(),
                                TextColumn("{task.completed} steps {task.fields[info]}"),
                                TimeElapsedColumn())
            self.task = self.bar.add_task("", total=self.total, info="")
            self.bar.start()

    def on_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(self.task, advance=1,
                            info=f"loss {(logs or {}).get('loss', float('nan')):.4f}")

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.stop()

    def on_epoch_end(self, k, logs=None):
        logs = logs or {}
        val = f"  val_loss {logs['val_loss']:.4f}" if "val_loss" in logs else ""
        line = (f"step {logs.get('step')}  {logs.get('seconds', 0):7.1f} s  loss "
                f"{logs.get('loss', float('nan')):.4f}{val}")
        if self.bar is not None:
            self.bar.console.print(line)
        else:
            print(line, flush=True)
        self.curve.append(logs)
        if self.out:
            atomic_text(os.path.join(self.out, METRICS), json.dumps({"curve": self.curve},
                                                                    indent=1))
