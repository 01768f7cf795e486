"""``grukit translate``: train an encoder–decoder on parallel text, score it, use it.

    grukit translate train --src train.de.gz --tgt train.en.gz --valid-src val.de.gz \\
        --valid-tgt val.en.gz --minutes 60 --save de-en --output runs/de-en   # --resume
    grukit translate evaluate --model de-en --src test.de.gz --tgt test.en.gz [--beam 5]
    grukit translate --model de-en < input.de > output.en       # or --input FILE
    grukit translate attention --model de-en --sentence "Ein Hund läuft." --plot map.png
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import time
import warnings

from ..._io import atomic_text
from ..._runs import RUN, UsageError, at_least, prepare_output, torch_threads
from ...models.callbacks import Callback
from ..estimator import prepare_save

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"
CHUNK = 1024  # sentences translated, then written, at a time: a Ctrl-C keeps those written
TRAIN_ONLY = ("tgt", "valid_src", "valid_tgt", "cell", "attention", "embed", "hidden",
              "dropout", "label_smoothing", "tokenizer", "vocab_size", "joint_vocab",
              "max_len", "batch_tokens", "lr", "epochs", "minutes", "seed", "save", "resume",
              "max_chars", "clock")
# flags an action has no use for (translate's own are refused in _translate)
UNUSED = {"train": ("input", "sentence", "plot"), "evaluate": ("input", "sentence", "plot"),
          "attention": ("input", "src", "output", "beam", "alpha")}
SETTINGS = ("cell", "attention", "embed", "hidden", "dropout", "label_smoothing", "tokenizer",
            "vocab_size", "joint_vocab", "max_len", "batch_tokens", "lr", "epochs", "seed",
            "beam", "alpha", "clock")


def add_parser(sub) -> None:
    p = sub.add_parser("translate", help="train a GRU encoder-decoder with attention on "
                                         "parallel text, score it, translate with it",
                       description="translate (default): sentences from --input or stdin with "
                                   "a model saved by train --save; train: on two aligned files "
                                   "(plain or .gz) or a TSV; evaluate: sacreBLEU BLEU and chrF "
                                   "(with signatures) and perplexity; attention: the heat map "
                                   "of one sentence.")
    p.add_argument("action", nargs="?", default="translate",
                   choices=("translate", "train", "evaluate", "attention"))
    p.add_argument("--model", help="translate/evaluate/attention: the folder written by --save")
    p.add_argument("--src", help="train/evaluate: source sentences, one a line (or a TSV of "
                                 "source<TAB>target without --tgt)")
    p.add_argument("--tgt", help="train/evaluate: target sentences aligned with --src")
    p.add_argument("--valid-src", help="train: validation source sentences (or a TSV of "
                                       "source<TAB>target without --valid-tgt)")
    p.add_argument("--valid-tgt", help="train: validation target sentences")
    p.add_argument("--input", help="translate: a file to translate (default: stdin)")
    p.add_argument("--sentence", help="attention: the sentence to translate and plot")
    p.add_argument("--plot", help="attention: the PNG to write (default attention.png)")
    p.add_argument("--cell", help="gru (default), lstm or rnn")
    p.add_argument("--attention", choices=("bahdanau", "luong", "none"),
                   help="the decoder's attention (default bahdanau)")
    p.add_argument("--embed", type=int, help="embedding width (default 256)")
    p.add_argument("--hidden", type=int, help="recurrent width (default 256)")
    p.add_argument("--dropout", type=float, help="default 0.3")
    p.add_argument("--label-smoothing", type=float, help="default 0.1")
    p.add_argument("--tokenizer", choices=("bpe", "unigram"), help="default bpe")
    p.add_argument("--vocab-size", type=int, help="sub-words a language (default 8000)")
    p.add_argument("--joint-vocab", action="store_true", default=None,
                   help="one vocabulary and embedding for both languages")
    p.add_argument("--max-len", type=int, help="tokens a side (default 100)")
    p.add_argument("--max-chars", type=int, help="train: pairs with a longer line are left "
                                                 "out (default 1000)")
    p.add_argument("--batch-tokens", type=int, help="tokens a batch (default 4000)")
    p.add_argument("--lr", type=float, help="Adam's learning rate (default 2e-3)")
    p.add_argument("--epochs", type=int, help="default 10")
    p.add_argument("--minutes", type=float, help="most minutes of training")
    p.add_argument("--clock", choices=("wall", "cpu"),
                   help="what --minutes counts: wall time (default) or this process's CPU "
                        "time (a budget that other work on a shared machine does not eat)")
    p.add_argument("--seed", type=int)
    p.add_argument("--beam", type=int, help="beam size (1: greedy; default the model's, 5)")
    p.add_argument("--alpha", type=float, help="beam search's length penalty (default 0.6)")
    p.add_argument("--batch-size", type=int, default=64, help="sentences decoded together")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--save", help="train: the folder to save the model to")
    p.add_argument("--output", help="train/evaluate: a folder for metrics.json (train: and a "
                                    "checkpoint for --resume)")
    p.add_argument("--resume", action="store_true", default=None,
                   help="train: continue the run in --output")
    p.set_defaults(func=run)


def run(args) -> int:
    at_least("--threads", args.threads, 1)
    with torch_threads(args.threads):
        return _run(args)


def _run(args) -> int:
    at_least("--beam", args.beam, 1)
    at_least("--batch-size", args.batch_size, 1)
    unused = [f"--{n}" for n in UNUSED.get(args.action, ()) if getattr(args, n) is not None]
    if unused:
        raise UsageError(f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used "
                         f"by {args.action}; drop {'it' if len(unused) == 1 else 'them'}.")
    if args.action == "train":
        return _train(args)
    given = [f"--{n.replace('_', '-')}" for n in TRAIN_ONLY
             if getattr(args, n) is not None and not (args.action == "evaluate"
                                                      and n == "tgt")]
    if given:
        raise UsageError(f"{', '.join(given)} set(s) training; {args.action} uses the saved "
                         f"model's settings, so drop {'it' if len(given) == 1 else 'them'}.")
    if not args.model:
        raise UsageError(f"{args.action} needs --model DIR, the folder written by `grukit "
                         f"translate train ... --save DIR`.")
    if not os.path.isdir(args.model):
        raise UsageError(f"--model {args.model!r} is not a folder; give the folder written by "
                         f"`grukit translate train ... --save DIR`.")
    from .translator import Translator

    tr = Translator.load(args.model)
    if args.action == "evaluate":
        return _evaluate(args, tr)
    if args.action == "attention":
        return _attention(args, tr)
    return _translate(args, tr)


def _settings(args) -> dict:
    # a value given is kept whatever it is (--dropout 0 is dropout 0, not the default)
    out = {k: getattr(args, k) for k in SETTINGS if getattr(args, k) is not None}
    if args.clock is not None and args.minutes is None:  # else accepted and ignored
        raise UsageError("--clock says what --minutes counts and there is no --minutes; give "
                         "--minutes or drop --clock.")
    if args.minutes is not None:
        if not 0 < args.minutes < float("inf"):
            raise UsageError(f"--minutes must be a number above 0; got {args.minutes}.")
        out["max_seconds"] = 60.0 * args.minutes
        out.setdefault("epochs", 1000)
    return out


def _read(src, tgt, what: str, **kw):
    from ...data.parallel import read_parallel

    if not src:
        raise UsageError(f"{what} needs --src (and --tgt, or a TSV of source<TAB>target).")
    return read_parallel(src, tgt, **kw)


def _train(args) -> int:
    from .translator import Translator

    for flag in ("embed", "hidden", "vocab_size", "max_len", "batch_tokens", "epochs",
                 "max_chars"):
        at_least(f"--{flag.replace('_', '-')}", getattr(args, flag), 1)
    # --valid-src alone is a TSV, as --src alone is (whatever its name: val.tsv.gz, val.txt);
    # the reader names a line without its one tab
    if args.valid_tgt and not args.valid_src:
        raise UsageError("--valid-tgt needs --valid-src, the validation source sentences "
                         "aligned with it.")
    if args.resume and not args.output:
        raise UsageError("--resume continues a run: give it with the --output folder of that "
                         "run.")
    if args.model:
        raise UsageError("train builds a new model; --model names a saved one (for "
                         "translate/evaluate), so drop it.")
    out = prepare_output(args.output)
    if args.save:
        prepare_save(args.save, output=out)
    ckpt = os.path.join(out, CHECKPOINT) if out else None
    if args.resume and not os.path.isfile(ckpt):
        raise UsageError(f"--resume: {args.output!r} holds no {CHECKPOINT}; run without "
                         f"--resume to start.")
    if out and not args.resume and os.path.isfile(ckpt):
        raise UsageError(f"--output {args.output!r} holds a run already; continue it with "
                         f"--resume or give a new folder.")
    max_chars = args.max_chars or 1000
    train = _read(args.src, args.tgt, "train", max_chars=max_chars)
    valid = _read(args.valid_src, args.valid_tgt, "validation", max_chars=max_chars) \
        if args.valid_src else None
    tr = Translator(**_settings(args))
    RUN.start(out, resumable=out is not None)
    progress = _Progress(out, tr)
    if args.resume and os.path.isfile(os.path.join(out, METRICS)):
        from ...models.saving import read_checkpoint

        with open(os.path.join(out, METRICS), encoding="utf-8") as f:
            curve = list(json.load(f).get("curve", []))
        # the epochs the checkpoint holds: one whose line was written before a Ctrl-C stopped
        # its checkpoint is trained again, and its line with it
        done = read_checkpoint(ckpt)["epoch"]
        progress.curve = [c for c in curve if c.get("epoch", 0) <= done]
    try:
        tr.fit(train.src, train.tgt, valid=None if valid is None else (valid.src, valid.tgt),
               callbacks=[progress], checkpoint=ckpt, resume=ckpt if args.resume else None,
               verbose="auto")
    except KeyboardInterrupt:  # before the first checkpoint there is no run to --resume
        RUN.resumable = ckpt is not None and os.path.isfile(ckpt)
        raise
    result = {"config": tr.get_config(), "curve": progress.curve,
              "stop_reason": tr.history_.stop_reason,
              "train_seconds": tr.history_.run_train_seconds,  # the epochs before --resume too
              "params": sum(p.numel() for p in tr.network_.parameters()),
              "pairs": len(train), "dropped": train.dropped}
    if args.save:  # before scoring: a failure there must not lose the trained model
        tr.save(args.save)
        print(f"saved to {args.save}; translate with `grukit translate --model {args.save} "
              f"< input`")
    if valid is not None:
        for beam in sorted({1, tr.config.beam}):
            t0 = time.perf_counter()
            scores = tr.evaluate(valid.src, valid.tgt, beam=beam, batch_size=args.batch_size)
            scores["sentences_per_s"] = len(valid) / (time.perf_counter() - t0)
            scores = _no_nan(scores)
            result[f"valid_beam{beam}"] = scores
            ppl = "none (no pair within max_len)" if scores["perplexity"] is None else \
                f"{scores['perplexity']:.2f}"
            print(f"validation, beam {beam}: BLEU {scores['bleu']:.2f} chrF "
                  f"{scores['chrf']:.2f} perplexity {ppl} ({scores['bleu_signature']})")
    if out:
        atomic_text(os.path.join(out, METRICS), json.dumps(result, indent=1, allow_nan=False))
    return 0


def _no_nan(scores: dict) -> dict:
    """``scores`` with NaN (the perplexity of a set with no pair within max_len) as None,
    JSON's null: NaN is no JSON (jq and strict readers refuse the file)."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in scores.items()}


def _evaluate(args, tr) -> int:
    if args.output and os.path.isfile(os.path.join(args.output, CHECKPOINT)):
        raise UsageError(f"--output {args.output!r} holds a training run, whose {METRICS} "
                         f"(its curve, which --resume continues) the scores would replace; "
                         f"give another folder.")
    # every line scored, as sacreBLEU scores the files: an empty source line's translation is
    # empty and its reference still counts (the perplexity leaves such a pair out, warned)
    data = _read(args.src, args.tgt, "evaluate", max_chars=None, empty="keep")
    out = prepare_output(args.output)
    t0 = time.perf_counter()
    scores = tr.evaluate(data.src, data.tgt, beam=args.beam, alpha=args.alpha,
                         batch_size=args.batch_size)
    scores["sentences_per_s"] = len(data) / (time.perf_counter() - t0)
    scores = _no_nan(scores)  # no pair within max_len: no perplexity
    print(json.dumps(scores, indent=1, allow_nan=False))
    if out:
        atomic_text(os.path.join(out, METRICS), json.dumps(scores, indent=1, allow_nan=False))
    return 0


def _translate(args, tr) -> int:
    from ...data.parallel import read_lines

    for flag in ("src", "sentence", "plot", "output"):
        if getattr(args, flag):
            raise UsageError(f"--{flag} is not used when translating; give the text with "
                             f"--input FILE or on stdin.")
    if args.input is None and sys.stdin.isatty():
        raise UsageError("nothing to translate: give --input FILE or pipe sentences on stdin, "
                         "one a line.")
    lines = read_lines(args.input if args.input else _stdin())
    # written a chunk at a time, as they come (a translation does not depend on the sentences
    # decoded beside it); the input's warnings (inputs cut, unknown words) said once, for all
    whole = None
    if len(lines) > CHUNK:
        from .translator import _sentences

        with warnings.catch_warnings(record=True) as whole:
            warnings.simplefilter("always")
            tr._encode_inputs(_sentences(lines, "translate"))
    for j in range(0, max(len(lines), 1), CHUNK):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = tr.translate(lines[j:j + CHUNK], beam=args.beam, alpha=args.alpha,
                               batch_size=args.batch_size)
        for w in (caught if whole is None else whole) if j == 0 else ():
            print(f"grukit translate: warning: {w.message}", file=sys.stderr)
        sys.stdout.write("".join(f"{line}\n" for line in out))
        sys.stdout.flush()
        RUN.finished(f"{j + len(out)} of {len(lines)} sentences")
    return 0


def _stdin():
    """stdin read as ``--input`` reads a file: UTF-8 (a leading BOM dropped), lines ending at
    "\\n" only, and bytes that are not UTF-8 refused with their line (Python's own stdin, in
    a C or POSIX locale, turns them into lone surrogates that the tokenizer rejects with a
    message about its input types)."""
    raw = getattr(sys.stdin, "buffer", None)
    if raw is None:  # a text stream put in place of stdin: already decoded
        return sys.stdin
    data = io.BytesIO(raw.read())
    data.name = "<stdin>"  # what read_lines names in its message
    return io.TextIOWrapper(data, encoding="utf-8-sig", newline="\n")


def _attention(args, tr) -> int:
    from .plot import plot_attention

    if not args.sentence:
        raise UsageError("attention needs --sentence \"...\", the source sentence to plot.")
    path = args.plot or "attention.png"
    if os.path.isdir(path):
        raise UsageError(f"--plot {path!r} is a folder; give a file path such as "
                         f"{os.path.join(path, 'attention.png')!r}.")
    if not path.lower().endswith(".png"):  # the map is a PNG whatever the name says
        raise UsageError(f"--plot {path!r} is not a .png file name; the map is written as a "
                         f"PNG, so give a path such as attention.png.")
    prepare_output(os.path.dirname(os.path.abspath(path)), "the folder of --plot")
    src, out, weights = tr.attention(args.sentence)
    path = plot_attention(src, out, weights, path,
                          title=tr.translate([args.sentence], beam=1)[0])
    print(f"wrote {path}")
    return 0


class _Progress(Callback):
    """A line per epoch (loss, validation perplexity, tokens/s) and metrics.json rewritten
    after each epoch."""

    def __init__(self, out: str | None, tr):
        self.out, self.tr, self.curve = out, tr, []

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.curve.append({"epoch": epoch + 1} | logs)
        RUN.finished(f"epoch {epoch + 1}")
        if self.out:
            atomic_text(os.path.join(self.out, METRICS), json.dumps(
                {"config": self.tr.get_config(), "curve": self.curve}, indent=1))
