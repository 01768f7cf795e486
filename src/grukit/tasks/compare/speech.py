"""Compare on spoken-word recognition: a folder of labelled wav files named like the Free
Spoken Digit Dataset (``{label}_{speaker}_{index}.wav``; default FSDD under
``$GRUKIT_SHARED_DATA/speech/fsdd/recordings``), its official split (take 0-4 of every
speaker and label is the test set); metric test accuracy (higher is better).

Per model and seed: ``SpeechClassifier`` (13 MFCC + Δ + ΔΔ → recurrent layer → attention
pooling → softmax) trained with early stopping on a stratified 10 % of the training split,
at most ``EPOCHS`` epochs unless ``--epochs`` says otherwise; the train metric is the
accuracy on the whole training split, so train − test is the generalisation gap. The
features are computed once and shared by every model and seed. The default run on FSDD (GRU
and LSTM, 3 seeds, with compare's adding-problem rows) takes about 2 CPU-minutes on one
thread (BENCHMARKS.md).

Latency: a unidirectional model streams, so its recurrent ``grukit.nn`` module goes back to
compare for the streaming-step rows, and the task adds what one 10 ms frame costs the
streaming recognizer (features + model step with the online pooling; budget 10,000 µs).
A bidirectional model (``bigru``, ``bilstm``) reads each word backwards too and cannot
stream: those rows stay empty for it.

Under ``--budget equal-params`` every model is sized with its attention pooling counted
(H² + 2H, which grows faster than the layer), and a bidirectional model gets the width
whose two directions, pooling and head count as many parameters as the GRU's one direction,
pooling and head.
"""

from __future__ import annotations

import os

from ... import count_params
from . import sizing
from .record import fit_record, stop_reason_of

DATA_HELP = ("a folder of wav files named label_speaker_index.wav, official split (default: "
             "FSDD under $GRUKIT_SHARED_DATA/speech/fsdd/recordings)")
EXTRA_MODELS = {"bigru": "BiGRU", "bilstm": "BiLSTM"}
EPOCHS = 25  # the default cap: ~1-2 s an epoch on FSDD (one core); early stopping ends most
PATIENCE = 5
ROWS = [("frame_us", "streaming: one 10 ms frame, features + model (µs)", True, "time")]


def _folder(data: str | None) -> str:
    if data:
        return data
    shared = os.environ.get("GRUKIT_SHARED_DATA")
    folder = os.path.join(shared, "speech", "fsdd", "recordings") if shared else None
    if folder and os.path.isdir(folder):
        return folder
    raise ValueError("--task speech needs --data, a folder of wav files named "
                     "label_speaker_index.wav, or GRUKIT_SHARED_DATA set to the folder that "
                     "holds speech/fsdd/recordings.")


def _bi_count(model: str, inputs: int, hidden: int, outputs: int, keras: bool,
              pooled: bool = False) -> int:
    """Two directions of the cell, attention pooling of their concatenation (2H) when
    ``pooled``, and a head on it (2H → O)."""
    one = sizing.count(model[2:], inputs, hidden, 0, keras)  # a direction, no head
    return 2 * one + 2 * hidden * outputs + outputs + \
        (sizing.pooling(2 * hidden) if pooled else 0)


def widths(task, models, budget: str, hidden: int | None = None) -> dict[str, int]:
    """``Task.widths`` that also sizes the bidirectional models (module docstring)."""
    hidden = task.hidden if hidden is None else hidden
    plain = [m for m in models if m not in EXTRA_MODELS]
    out = sizing.widths(plain, budget, hidden, task.inputs, task.outputs, keras=task.keras,
                        pooled=task.pooled)
    target = sizing.count("gru", task.inputs, hidden, task.outputs, task.keras, task.pooled)
    for m in models:
        if m in EXTRA_MODELS:  # two directions: never wider than the GRU at equal params
            out[m] = hidden if budget == "equal-hidden" else min(
                range(1, hidden + 1),
                key=lambda h, m=m: abs(_bi_count(m, task.inputs, h, task.outputs, task.keras,
                                                 task.pooled) - target))
    return {m: out[m] for m in models}


def prepare(task_class, data: str | None):
    from ...data.audio_folder import read_audio_folder
    from ..speech import SpeechClassifier

    folder = _folder(data)
    try:
        rec = read_audio_folder(folder)
        train, test = rec.split("official")
    except FileNotFoundError:
        raise ValueError(f"--data {folder!r}: no such folder; give a folder of wav files "
                         f"named label_speaker_index.wav.") from None
    classes = sorted(set(rec.labels.tolist()))
    if len(classes) < 2:
        raise ValueError(f"--data {folder!r} holds one label ({classes[0]!r}); a classifier "
                         f"needs two or more.")
    front = SpeechClassifier()  # the default feature settings every model shares
    # (train frames, labels, test frames, labels, a test file for the frame latency)
    frames = (front.frames(train), train.labels, front.frames(test), test.labels,
              test.paths[0])
    inputs = frames[0][0].shape[1]  # (T, D): 13 MFCC + Δ + ΔΔ = 39
    speakers = len(set(rec.speakers.tolist())) if rec.speakers is not None else "?"
    task_type = type("SpeechTask", (task_class,), {"widths": widths})
    name = f"speech:{os.path.basename(os.path.normpath(folder))}"
    return task_type(
        name, "accuracy", False, inputs, len(classes), 64, frames,
        {"data": f"{os.path.abspath(folder)}: {len(rec)} recordings, {len(classes)} labels, "
                 f"{speakers} speakers; official split {len(train)} train / {len(test)} "
                 f"test",
         "features": f"{front.config.n_mfcc} MFCC + Δ + ΔΔ, 25 ms window, 10 ms hop, "
                     f"{front.config.sample_rate} Hz",
         "training": f"at most {EPOCHS} epochs (--epochs), early stopping on 10% of the "
                     f"training split (patience {PATIENCE})"},
        rows=list(ROWS), pooled=True)  # the network pools with attention (H² + 2H)


WARM_ROWS = 32  # training recordings the untimed warm-up epoch reads


def warm_up(task, model: str, hidden: int) -> None:
    """One untimed epoch of ``model`` at ``hidden`` units on ``WARM_ROWS`` training
    recordings' frames of every label (``classify.warm_rows``: FSDD's training split is
    sorted by label), validated on them (``tasks.warm_up``: first-call costs out of the
    timed epochs)."""
    import numpy as np

    from ..speech import SpeechClassifier
    from .classify import warm_rows

    rows = warm_rows(task.data[1], WARM_ROWS)
    x, y = task.data[0][:0], np.asarray(task.data[1])[rows]  # frames (keep their settings)
    x.extend(task.data[0][i] for i in rows)
    SpeechClassifier(model=model, hidden=hidden, epochs=1).fit(x, y, validation_data=(x, y))


def run(task, model: str, hidden: int, seed: int, *, epochs: int | None):
    """One model, one seed -> (record, the recurrent module, or None when it cannot
    stream)."""
    from ...data.audio import read_wav
    from ..speech import SpeechClassifier
    from ..speech.latency import frame_latency
    from ..speech.stream import Recognizer

    x_tr, y_tr, x_te, y_te, sample = task.data
    cap = epochs or EPOCHS
    clf = SpeechClassifier(model=model, hidden=hidden, seed=seed, epochs=cap,
                           patience=PATIENCE)
    hist = clf.fit(x_tr, y_tr).history_
    h = hist.history
    rec = fit_record(h.get("epoch_time", []), h.get("loss", []), h.get("val_loss", []),
                     params=count_params(clf.model),
                     train_metric=clf.evaluate(x_tr, y_tr)["accuracy"],
                     test_metric=clf.evaluate(x_te, y_te)["accuracy"], higher_is_better=True,
                     patience=PATIENCE,
                     stop_reason=stop_reason_of(len(h.get("loss", [])), cap, hist))
    if model in EXTRA_MODELS:
        return rec, None
    recognizer = Recognizer(clf)
    lat = frame_latency(recognizer, read_wav(sample, clf.config.sample_rate)[0], frames=200)
    rec |= {"frame_us": lat["total_us"], "frame_features_us": lat["features_us"],
            "frame_model_us": lat["model_us"]}
    return rec, recognizer.stream.module

