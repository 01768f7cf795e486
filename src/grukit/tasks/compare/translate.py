"""Compare on translation: Multi30K German→English (Elliott et al. 2016) by default; metric
test BLEU with beam search (sacreBLEU, higher is better).

Models: a cell with a one-step cell (gru, lstm, rnn) is that cell's encoder–decoder with
Bahdanau attention (``grukit.tasks.translate``); ``<cell>-noattn`` is the same without
attention and ``<cell>-luong`` with Luong's (``EXTRA_MODELS``). Under equal-params (this
task's default) every model is sized with ``matched_hidden`` to the parameter count of the
GRU with Bahdanau attention at --hidden (default 256), vocabularies and embedding (256)
kept; under equal-hidden all share the width.

Per model and seed: a ``Translator`` trained for ``--epochs`` (default 10) or until
``--max-seconds`` of wall-clock training (then the epoch cap is 1000); the record has

    test_metric   test BLEU, beam 5 (α 0.6)
    train_metric  BLEU of the same decoding on a fixed sample of training pairs as many as
                  the test set (at most 1000), so ``gap`` = train − test BLEU
    rows          greedy BLEU, chrF (beam), validation and test perplexity (per target
                  sub-word, teacher forced, final weights) and decoding time per sentence,
                  greedy and beam, at batch 1 (the first 100 test sentences) and batch 64
                  (the whole test set), wall time

No recurrent module is returned: the decoder is a cell run step by step under attention,
so compare's streaming-step rows do not apply (the decoding rows stand in for them).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

DATA_HELP = ("a folder with Multi30K's file names, {train,val,test_2016_flickr (or test)}.{de,"
             "en}[.gz], optionally :SRC-TGT for another pair such as :fr-en (default "
             "$GRUKIT_SHARED_DATA/translation/multi30k, German to English)")
EXTRA_MODELS = {f"{c}-{a}": f"{c.upper()} {label}" for c in ("gru", "lstm")
                for a, label in (("noattn", "no attention"), ("luong", "Luong"))}
TAKES_MAX_SECONDS = True
CELLS = ("gru", "lstm", "rnn")  # cells with a one-step cell for the decoder
DEFAULT_EPOCHS = 10
HIDDEN = 256
BEAM, ALPHA = 5, 0.6
TRAIN_SAMPLE = 1000  # most training pairs decoded for the train-side BLEU
SPEED_SENTENCES = 100  # test sentences decoded one at a time for the batch-1 speed
BATCH = 64
# Translator settings every run shares (the short Multi30K runs of BENCHMARKS.md)
SETTINGS = {"vocab_size": 6000}
_PAIR = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})$")


@dataclass
class Corpus:
    train: tuple[list[str], list[str]]
    valid: tuple[list[str], list[str]]
    test: tuple[list[str], list[str]]
    sample: tuple[list[str], list[str]]  # training pairs for the train-side BLEU
    vocab: tuple[int, int]  # sub-words of the source and target vocabularies


def model_parts(model: str) -> tuple[str, str]:
    """"gru" -> ("gru", "bahdanau"); "lstm-noattn" -> ("lstm", "none"); "gru-luong" ->
    ("gru", "luong")."""
    cell, _, kind = model.partition("-")
    attention = {"": "bahdanau", "noattn": "none", "luong": "luong"}.get(kind)
    if cell not in CELLS or attention is None:
        ok = ", ".join(CELLS + tuple(EXTRA_MODELS))
        raise ValueError(f"--task translate takes the models {ok}; {model!r} has no "
                         f"one-step decoder cell or attention of that name.")
    return cell, attention


def _locate(data: str | None) -> tuple[str, str, str]:
    """(folder, source language, target language) from --data."""
    if not data:
        shared = os.environ.get("GRUKIT_SHARED_DATA")
        if not shared:
            raise ValueError("--task translate needs --data FOLDER (Multi30K's train/val/"
                             "test_2016_flickr.de/.en files), or GRUKIT_SHARED_DATA set to "
                             "the folder holding translation/multi30k.")
        data = os.path.join(shared, "translation", "multi30k")
    folder, src, tgt = data, "de", "en"
    head, sep, tail = data.rpartition(":")
    if sep and _PAIR.match(tail):
        folder, (src, tgt) = head, _PAIR.match(tail).groups()
    if not os.path.isdir(folder):
        raise ValueError(f"--data {folder!r} is not a folder; give the folder holding "
                         f"train.{src}.gz, train.{tgt}.gz, val.* and test_2016_flickr.*.")
    return folder, src, tgt


def _file(folder: str, splits: tuple[str, ...], lang: str) -> str:
    for split in splits:
        for ext in (".gz", ""):
            path = os.path.join(folder, f"{split}.{lang}{ext}")
            if os.path.isfile(path):
                return path
    raise ValueError(f"--data {folder!r} has no {splits[0]}.{lang}[.gz]; the folder needs "
                     f"Multi30K's file names (train, val, test_2016_flickr or test).")


def load(data: str | None) -> tuple[Corpus, str]:
    """The three splits and the training sample -> (corpus, a line describing it)."""
    import numpy as np

    from ...data.parallel import read_parallel
    from ..translate.tokenizer import SubwordTokenizer

    folder, src, tgt = _locate(data)
    parts = {}
    for name, splits in (("train", ("train",)), ("valid", ("val", "valid", "dev")),
                         ("test", ("test_2016_flickr", "test"))):
        s, t = _file(folder, splits, src), _file(folder, splits, tgt)
        try:
            p = read_parallel(s, t, max_chars=1000 if name == "train" else None)
        except (OSError, ValueError) as err:  # a sentence naming the file
            raise ValueError(f"--data: {err}") from None
        parts[name] = (list(p.src), list(p.tgt))
    n = len(parts["train"][0])
    k = min(len(parts["test"][0]), TRAIN_SAMPLE, n)
    pick = np.sort(np.random.default_rng(0).choice(n, k, replace=False))
    sample = ([parts["train"][0][i] for i in pick], [parts["train"][1][i] for i in pick])
    size = SETTINGS.get("vocab_size", 8000)
    kind = SETTINGS.get("tokenizer", "bpe")
    # the vocabularies every run will train (the same data gives the same ones): their sizes
    # fix the parameter counts that equal-params matches
    vocab = (SubwordTokenizer(kind, size).fit(parts["train"][0]).size,
             SubwordTokenizer(kind, size).fit(parts["train"][1]).size)
    line = (f"{folder} {src}→{tgt}: {n} train, {len(parts['valid'][0])} validation, "
            f"{len(parts['test'][0])} test pairs; {kind} vocabularies of {vocab[0]} / "
            f"{vocab[1]} sub-words")
    return Corpus(parts["train"], parts["valid"], parts["test"], sample, vocab), line


def _shape(corpus: Corpus, model: str, hidden: int):
    from ..translate.network import Shape

    cell, attention = model_parts(model)
    return Shape(corpus.vocab[0], corpus.vocab[1], SETTINGS.get("embed", 256), hidden, cell,
                 attention, SETTINGS.get("dropout", 0.3), SETTINGS.get("joint_vocab", False))


def widths(corpus: Corpus, models, budget: str, hidden: int) -> dict[str, int]:
    """Width per model: ``hidden`` for all (equal-hidden) or each matched to the parameter
    count of the GRU with Bahdanau attention at ``hidden`` (equal-params)."""
    from ..translate.network import count_params, matched_hidden

    for m in models:
        model_parts(m)  # one sentence for a model this task cannot build
    if budget == "equal-hidden":
        return {m: hidden for m in models}
    target = count_params(_shape(corpus, "gru", hidden))
    return {m: hidden if m == "gru" else matched_hidden(_shape(corpus, m, hidden), target)
            for m in models}


def prepare(task_class, data: str | None):
    corpus, line = load(data)

    class TranslateTask(task_class):
        def widths(self, models, budget, hidden=None):
            return widths(self.data, models, budget, self.hidden if hidden is None else hidden)

    rows = [("bleu_greedy", "test BLEU, greedy", False, "metric"),
            ("chrf", f"test chrF, beam {BEAM}", False, "metric"),
            ("val_ppl", "validation perplexity", True, "metric"),
            ("test_ppl", "test perplexity", True, "metric"),
            ("greedy_1_ms", "greedy decoding, batch 1 (ms / sentence)", True, "time"),
            ("beam_1_ms", f"beam-{BEAM} decoding, batch 1 (ms / sentence)", True, "time"),
            ("greedy_batch_ms", f"greedy decoding, batch {BATCH} (ms / sentence)", True,
             "time"),
            ("beam_batch_ms", f"beam-{BEAM} decoding, batch {BATCH} (ms / sentence)", True,
             "time")]
    return TranslateTask(
        "translate", "BLEU", False, corpus.vocab[0], corpus.vocab[1], HIDDEN, corpus,
        {"data": line,
         "metric": f"sacreBLEU corpus BLEU of beam-{BEAM} output (α {ALPHA}) on the test "
                   f"set; the gap is BLEU on {len(corpus.sample[0])} training pairs minus "
                   f"test BLEU",
         "models": "encoder–decoder: bidirectional encoder, decoder with input feeding, "
                   "output tied to the target embedding; no suffix: Bahdanau attention"},
        budget="equal-params", rows=rows)


WARM_PAIRS = 64  # training pairs the untimed warm-up epoch reads


def warm_up(task, model: str, hidden: int) -> None:
    """One untimed epoch of ``model`` at ``hidden`` units on the first ``WARM_PAIRS``
    training pairs, then a beam and a greedy decoding of two of them (``tasks.warm_up``:
    first-call costs out of the timed epochs and decodings; on 64 Multi30K pairs its epoch
    took 2.8 s, nearly all of it such costs)."""
    from ..translate import Translator

    cell, attention = model_parts(model)
    src, tgt = (side[:WARM_PAIRS] for side in task.data.train)
    tr = Translator(**(SETTINGS | {"cell": cell, "attention": attention, "hidden": hidden,
                                   "epochs": 1, "beam": BEAM, "alpha": ALPHA}))
    tr.fit(src, tgt, valid=(src[:8], tgt[:8]))
    tr.translate(src[:2], beam=BEAM, batch_size=1)
    tr.translate(src[:2], beam=1, batch_size=BATCH)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run(task, model: str, hidden: int, seed: int, *, epochs: int | None,
        max_seconds: float | None = None):
    """One model, one seed -> (record, None)."""
    from ..translate import Translator
    from ..translate.metrics import corpus_scores
    from .record import fit_record

    corpus: Corpus = task.data
    cell, attention = model_parts(model)
    cap = epochs or (1000 if max_seconds else DEFAULT_EPOCHS)
    tr = Translator(**(SETTINGS | {"cell": cell, "attention": attention, "hidden": hidden,
                                   "seed": seed, "epochs": cap, "max_seconds": max_seconds,
                                   "beam": BEAM, "alpha": ALPHA}))
    tr.fit(*corpus.train, valid=corpus.valid)
    hist = tr.history_
    h = hist.history
    (test_src, test_tgt), n = corpus.test, len(corpus.test[0])
    beam, beam_s = _timed(lambda: tr.translate(test_src, beam=BEAM, batch_size=BATCH))
    greedy, greedy_s = _timed(lambda: tr.translate(test_src, beam=1, batch_size=BATCH))
    few = test_src[:SPEED_SENTENCES]
    _, greedy_1 = _timed(lambda: tr.translate(few, beam=1, batch_size=1))
    _, beam_1 = _timed(lambda: tr.translate(few, beam=BEAM, batch_size=1))
    scores = corpus_scores(beam, test_tgt)
    train_bleu = corpus_scores(tr.translate(corpus.sample[0], beam=BEAM, batch_size=BATCH),
                               corpus.sample[1])["bleu"]
    reason = {"epochs": "max_epochs", "callback": "max_seconds"}.get(hist.stop_reason,
                                                                      hist.stop_reason)
    ms = 1e3 / max(len(few), 1)
    params = sum(p.numel() for p in tr.network_.parameters())  # a tied table counted once
    rec = fit_record(hist.train_seconds, h["loss"], h.get("val_loss", []),
                     params=params, train_metric=train_bleu,
                     test_metric=scores["bleu"], higher_is_better=True, stop_reason=reason,
                     bleu_greedy=corpus_scores(greedy, test_tgt)["bleu"],
                     chrf=scores["chrf"], val_ppl=h["val_ppl"][-1] if h.get("val_ppl")
                     else None, test_ppl=tr.perplexity(test_src, test_tgt),
                     greedy_1_ms=greedy_1 * ms, beam_1_ms=beam_1 * ms,
                     greedy_batch_ms=1e3 * greedy_s / n, beam_batch_ms=1e3 * beam_s / n,
                     sentences_per_s={"greedy_1": len(few) / greedy_1,
                                      "beam_1": len(few) / beam_1,
                                      "greedy_batch": n / greedy_s, "beam_batch": n / beam_s},
                     bleu_signature=scores["bleu_signature"],
                     tokens_per_s=h["tokens_per_s"][-1] if h.get("tokens_per_s") else None)
    return rec, None
