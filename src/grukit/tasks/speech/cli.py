"""``grukit speech``: spoken-digit (or any spoken-word) recognition from a folder of labelled
wav files, and from a stream.

    grukit speech --data fsdd/recordings --model bigru --output runs/bigru --save m
    grukit speech --split speaker --output runs/loso         # leave one speaker out, each
    grukit speech evaluate --model m --data fsdd/recordings   # the official test split
    grukit speech predict --model m --data clips/ --output runs/pred
    grukit speech listen long.wav --model m-gru               # "0.42 s  seven" lines
    grukit speech stream --model m-gru --output runs/stream   # DER and delay on built files
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time

import numpy as np

from ..._runs import (
    RUN,
    UsageError,
    at_least,
    predict_args,
    prepare_output,
    torch_threads,
    training_model,
)
from ..classify.network import MODELS

TRAIN_ONLY = ("split", "epochs", "hidden", "seed", "seeds", "save", "resume", "features",
              "noise_copies")
ACTIONS = ("train", "evaluate", "predict", "listen", "stream")
WORDS_PER_FILE = 8  # stream: the words each built long file joins
# options (argparse dests) that only some actions read; given to another, they are refused
# rather than silently ignored (training options: TRAIN_ONLY, refused by predict_args)
ONLY_FOR = {"files": ("stream",), "snr": ("stream",),
            "pattern": ("train", "evaluate", "stream"), "labels": ("train", "evaluate", "stream"),
            "output": ("train", "evaluate", "predict", "stream"),
            "data": ("train", "evaluate", "predict", "stream")}  # listen: its FILE


def add_parser(sub) -> None:
    p = sub.add_parser("speech", help="spoken-word recognition from wav files and streams",
                       description="Train a (Bi)GRU/LSTM with attention pooling on MFCC or "
                                   "log-mel frames of labelled wav files (default: the Free "
                                   "Spoken Digit Dataset, official split); --split speaker "
                                   "holds each speaker out in turn. evaluate/predict apply a "
                                   "model saved with --save; listen recognises the words of "
                                   "a long recording frame by frame (a unidirectional model); "
                                   "stream measures that on long files built from test "
                                   "words with gaps and noise.")
    p.add_argument("action", nargs="?", choices=ACTIONS, default="train")
    p.add_argument("file", nargs="?", help="listen: the wav file to recognise")
    p.add_argument("--data", help="a folder of wav files (default: "
                                  "$GRUKIT_SHARED_DATA/speech/fsdd/recordings); predict: also "
                                  "one wav file")
    p.add_argument("--pattern", help="regular expression of the file names with a "
                                     "(?P<label>...) group (default: FSDD's "
                                     "digit_speaker_index.wav)")
    p.add_argument("--labels", help="a CSV of file,label[,speaker] instead of --pattern")
    p.add_argument("--model", help=f"train: one of {', '.join(MODELS)} (default bigru); "
                                   f"other actions: the folder written by --save")
    p.add_argument("--split", choices=("official", "speaker"),
                   help="official (default): FSDD's take 0-4 as test; speaker: leave each "
                        "speaker out in turn")
    p.add_argument("--seeds", type=int, help="official split: train this many seeds "
                                             "(mean ± std; default 1)")
    p.add_argument("--seed", type=int, help="the first seed (default 0)")
    p.add_argument("--epochs", type=int, help="most epochs (early stopping picks fewer)")
    p.add_argument("--hidden", type=int, help="units of the recurrent layer (default 64)")
    p.add_argument("--features", choices=("mfcc", "logmel"), help="default mfcc")
    p.add_argument("--noise-copies", type=int, help="noisy copies of each training recording "
                                                    "(white noise at 15-25 dB SNR)")
    p.add_argument("--files", type=int, help="stream: long files to build (default 20)")
    p.add_argument("--snr", type=float, help="stream: noise SNR in dB (default 20)")
    p.add_argument("--output", help="folder for metrics.json, confusion.png, report.html "
                                    "(predict: predictions.csv; stream: stream.json)")
    p.add_argument("--save", help="train: folder to save the model in: the official split's "
                                  "first seed's model (trained on the training takes); "
                                  "--split speaker: a model trained afterwards on every "
                                  "recording, which evaluate and stream then refuse to "
                                  "score on that folder (it has heard every file)")
    p.add_argument("--resume", action="store_true", default=None,
                   help="with --output: skip the seeds or speakers already finished")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action != "listen" and args.file is not None:
        raise UsageError(f"{args.file!r}: only `grukit speech listen FILE` takes a file; use "
                         f"--data for the others.")
    for dest, actions in ONLY_FOR.items():
        if getattr(args, dest) is not None and args.action not in actions:
            raise UsageError(f"--{dest} is not read by `grukit speech {args.action}` (only by "
                             f"{', '.join(actions)}); drop it.")
    at_least("--threads", args.threads, 1)
    with torch_threads(args.threads):
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    return {"train": run_train, "evaluate": run_evaluate, "predict": run_predict,
            "listen": run_listen, "stream": run_stream}[args.action](args)


def _folder(args) -> str:
    if args.data is not None:
        return args.data
    shared = os.environ.get("GRUKIT_SHARED_DATA")
    folder = os.path.join(shared, "speech", "fsdd", "recordings") if shared else None
    if folder and os.path.isdir(folder):
        return folder
    raise UsageError("--data is missing: give a folder of labelled wav files, or set "
                     "GRUKIT_SHARED_DATA to the folder holding speech/fsdd/recordings.")


def _recordings(args):
    from ...data.audio_folder import FSDD_PATTERN, read_audio_folder

    rec = read_audio_folder(_folder(args), args.pattern or FSDD_PATTERN, args.labels)
    seen: set = set()
    for p in rec.paths:  # a CSV may list a file twice (or as a.wav and ./a.wav)
        real = os.path.abspath(p)  # normalised: a.wav and ./a.wav alike
        if real in seen:
            raise UsageError(f"--labels {args.labels!r} lists {os.path.basename(p)!r} more "
                             f"than once; list each recording once, or it is trained on or "
                             f"scored twice.")
        seen.add(real)
    return rec


def _scored(rec):
    """What evaluate and stream score: the official test split (take index 0-4) of a folder
    that also holds training takes, else every file (no take indices, or only test takes)."""
    from ...data.audio_folder import FSDD_TEST_INDEX

    if rec.indices is None or (rec.indices < FSDD_TEST_INDEX).all():
        return rec
    return rec.split("official")[1]


def _heard(clf, rec, args) -> None:
    """Refuse to score a model on the folder whose every recording trained it (``--split
    speaker --save``): its accuracy there would be its training accuracy."""
    seen = getattr(clf, "trained_on_", None) or {}
    if seen.get("set") == os.path.realpath(rec.folder) and "test" in seen.get("splits", ()):
        raise UsageError(f"--model {args.model!r} was trained on every recording of "
                         f"{rec.folder!r}, its test takes included (--split speaker --save), "
                         f"so its score there would be its training accuracy; score it on "
                         f"recordings it has not heard.")


def _load_model(args):
    from ..estimator import load
    from .estimator import SpeechClassifier

    if not args.model:
        raise UsageError(f"{args.action} needs --model DIR, the folder written by "
                         f"`grukit speech ... --save DIR`.")
    clf = load(args.model)
    if not isinstance(clf, SpeechClassifier):
        raise UsageError(f"--model {args.model!r} holds a {type(clf).__name__}, not a speech "
                         f"model; use its own command.")
    return clf


# -- train ---------------------------------------------------------------------------------
def run_train(args: argparse.Namespace) -> int:
    from ..folds import clear_folds, read_folds, write_fold
    from .estimator import SpeechClassifier
    from .report import scores, write_results

    model = training_model(args.model, MODELS, "speech", default="bigru")
    split = args.split or "official"
    seeds = 1 if args.seeds is None else args.seeds
    seed = 0 if args.seed is None else args.seed
    at_least("--seeds", seeds, 1)
    at_least("--seed", seed, 0)
    at_least("--epochs", args.epochs, 1)
    at_least("--hidden", args.hidden, 1)
    at_least("--noise-copies", args.noise_copies, 0)
    if split == "speaker" and args.seeds is not None:
        raise UsageError("--seeds repeats the official split; with --split speaker each "
                         "speaker is one run (give --seed).")
    if args.resume and not args.output:
        raise UsageError("--resume continues a run: give the --output folder of the "
                         "interrupted one.")
    out = prepare_output(args.output)
    if args.save:
        from ..estimator import prepare_save

        prepare_save(args.save, output=out)
    rec = _recordings(args)
    overrides = {"model": model}
    for key in ("hidden", "epochs", "features", "noise_copies"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if split == "official":
        train, test = rec.split("official")
        runs = [(f"seed {seed + k}", train, test, seed + k) for k in range(seeds)]
    else:
        runs = [(f"speaker {s}", rec.take(tr), rec.take(te), seed)
                for s, tr, te in rec.speaker_folds()]
    _check_labels_learnable(runs, split)
    RUN.start(out, resumable=len(runs) > 1)
    config = SpeechClassifier(**overrides).get_config()
    # each file with its label, speaker and take: what the folds are made of (a speaker or
    # take renamed in a CSV or --pattern changes them, and a resumed run must not reuse them)
    files = sorted(zip(rec.paths, rec.labels.tolist(),
                       [None] * len(rec) if rec.speakers is None else rec.speakers.tolist(),
                       [None] * len(rec) if rec.indices is None else rec.indices.tolist(),
                       strict=True))
    stamp = hashlib.sha256(json.dumps([files, split, seed, seeds, config]).encode()) \
        .hexdigest()[:16]
    done = {}
    if out:
        if args.resume:
            done = read_folds(out, len(runs), stamp, ("result",))
            print(f"resuming: {len(done)} of {len(runs)} runs already in {out}")
            if done:
                RUN.finished(f"{len(done)} of {len(runs)} runs")
        else:
            clear_folds(out)
    print(f"{rec.folder}: {len(rec)} recordings, {len(set(rec.labels.tolist()))} classes; "
          f"{split} split, {len(runs)} run(s) of {model}", flush=True)
    results, saved = [], None  # saved: the run whose model --save holds
    for k, (name, train, test, s) in enumerate(runs):
        if k in done:
            results.append(done[k]["result"])
        else:
            t0, c0 = time.perf_counter(), time.process_time()
            clf = SpeechClassifier(**(overrides | {"seed": s})).fit(train, train.labels)
            fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
            pred = clf.predict(test)
            r = scores(test.labels, pred, clf.classes_, test.speakers) | {
                "run": name, "seed": s, "n_train": len(train), "fit_seconds": fit_s,
                "fit_cpu_seconds": fit_cpu,
                "epochs": len(clf.history_.epoch),
                "epoch_seconds": float(np.median(clf.history_.history["epoch_time"]))}
            results.append(r)
            with RUN.saving(f"{name} ({k + 1} of {len(runs)})"):  # a Ctrl-C waits for both
                if out:
                    write_fold(out, k, stamp, {"result": r})
            if args.save and split == "official" and k == 0:  # the first seed's, as --help says
                clf.save(args.save)
                saved = name
        r = results[-1]
        cpu = f", {r['fit_cpu_seconds']:.0f} s CPU" if "fit_cpu_seconds" in r else ""
        print(f"  {r['run']}: accuracy {r['accuracy']:.4f} on {r['n']} ({r['epochs']} epochs, "
              f"{r['fit_seconds']:.0f} s{cpu})", flush=True)
    acc = np.array([r["accuracy"] for r in results])
    confusion = np.sum([r["confusion"] for r in results], axis=0)
    summary = {"model": model, "split": split, "runs": len(results),
               "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
               "fit_seconds_mean": float(np.mean([r["fit_seconds"] for r in results]))}
    per_speaker = _per_speaker(results, split)
    print(f"{model}, {split} split: accuracy {acc.mean():.4f} ± {acc.std():.4f} over "
          f"{len(results)} run(s)")
    for s, v in per_speaker.items():
        print(f"  {s}: {v['accuracy']:.4f} ({v['n']})")
    if out:
        metrics = {"data": os.path.abspath(rec.folder), "summary": summary, "config": config,
                   "per_speaker": per_speaker, "runs": results,
                   "confusion": confusion.tolist(), "classes": results[0]["classes"]}
        write_results(out, metrics, confusion, results[0]["classes"],
                      f"{model}, {split} split: accuracy {acc.mean():.4f}")
        print(f"wrote metrics.json, confusion.png, report.html to {out}")
    if args.save and not saved:  # speaker split, or the first seed finished before --resume
        if split == "official":  # the model of the first seed's run: its training split only
            fit_on, what = runs[0][1], f"the {len(runs[0][1])} training recordings"
        else:
            fit_on, what = rec, f"all {len(rec)} recordings"
        print(f"training {model} on {what} for --save", flush=True)
        final = SpeechClassifier(**(overrides | {"seed": seed})).fit(fit_on, fit_on.labels)
        if split == "speaker":  # its test takes too: evaluate and stream refuse this folder
            final.trained_on_ = {"set": os.path.realpath(rec.folder),
                                 "splits": ["train", "test"]}
        final.save(args.save)
        saved = runs[0][0]
    if saved and split == "official":
        print(f"saved the {saved} model (trained on the {len(runs[0][1])} training "
              f"recordings) to {args.save} (grukit speech evaluate --model {args.save})")
    elif saved:  # no held-out recording is left to score this model on
        print(f"saved to {args.save} a model trained on all {len(rec)} recordings, every "
              f"speaker's: the accuracies above are those of the models that held each "
              f"speaker out, not this one's, and it has heard every file in {rec.folder}, so "
              f"evaluate it on other recordings only")
    return 0


def _check_labels_learnable(runs: list, split: str) -> None:
    """Refuse, before any training, a run whose test recordings hold a label its training
    recordings lack: no prediction could match it, and the runs' confusion matrices would
    cover different classes."""
    for name, train, test, _ in runs:
        unseen = sorted(set(test.labels.tolist()) - set(train.labels.tolist()))
        if not unseen:
            continue
        n = int(np.isin(test.labels, unseen).sum())
        if split == "official":
            raise UsageError(f"label(s) {unseen[:5]} ({n} file(s)) occur only in the official "
                             f"test split (take index 0-4), so the model could never predict "
                             f"them; give each label training takes (index 5 or more) or "
                             f"remove those files.")
        raise UsageError(f"label(s) {unseen[:5]} ({n} file(s)) are spoken only by {name}, so "
                         f"the run that holds that speaker out could never predict them; give "
                         f"each label two or more speakers or remove those files.")


def _per_speaker(results: list[dict], split: str) -> dict:
    """Accuracy per speaker over all runs (speaker split: each speaker's own held-out run;
    official split: the mean over the seeds) and ``n``, the speaker's test recordings (each
    seed scores the same ones, so they are not counted once a seed)."""
    hits: dict = {}
    for r in results:
        for s, v in (r.get("per_speaker") or {}).items():
            h = hits.setdefault(s, [0.0, 0, 0])
            h[0] += v["accuracy"] * v["n"]
            h[1] += v["n"]
            h[2] += 1  # runs that scored this speaker
    return {s: {"accuracy": a / n, "n": n // k} for s, (a, n, k) in sorted(hits.items())}


# -- evaluate / predict --------------------------------------------------------------------
def run_evaluate(args: argparse.Namespace) -> int:
    from .report import scores, write_results

    predict_args(args, TRAIN_ONLY, "speech")
    out = prepare_output(args.output)
    RUN.start(out)
    clf = _load_model(args)
    rec = _recordings(args)
    _heard(clf, rec, args)
    test = _scored(rec)
    known = [str(c) for c in clf.classes_]
    unseen = sorted(set(test.labels.tolist()) - set(known))
    if unseen:  # scored, they would be left out of the confusion matrix and macro F1
        n = int(np.isin(test.labels, unseen).sum())
        raise UsageError(f"--data {rec.folder!r}: label(s) {unseen[:5]} ({n} file(s)) never "
                         f"occurred in the model's training, so no prediction could match "
                         f"them; the model knows {known[:20]}; remove those files or retrain "
                         f"with them.")
    pred = clf.predict(test)
    r = scores(test.labels, pred, clf.classes_, test.speakers)
    print(f"{rec.folder}: accuracy {r['accuracy']:.4f} on {r['n']} recordings "
          f"({'official test split' if test is not rec else 'all files'})")
    for s, v in (r.get("per_speaker") or {}).items():
        print(f"  {s}: {v['accuracy']:.4f} ({v['n']})")
    if out:
        metrics = {"data": os.path.abspath(rec.folder), "model": os.path.abspath(args.model),
                   "summary": {"accuracy": r["accuracy"], "macro_f1": r["macro_f1"],
                               "n": r["n"]}} | r
        write_results(out, metrics, r["confusion"], r["classes"],
                      f"{clf.config.model}: accuracy {r['accuracy']:.4f}")
        print(f"wrote metrics.json, confusion.png, report.html to {out}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from ..._io import atomic_text
    from .report import predictions_csv

    predict_args(args, TRAIN_ONLY, "speech")
    if args.data is None:
        raise UsageError("predict needs --data, a wav file or a folder of them.")
    out = prepare_output(args.output)
    RUN.start(out)
    clf = _load_model(args)
    if os.path.isdir(args.data):
        from ...data.audio_folder import AUDIO_EXT, OTHER_AUDIO

        other = sorted(n for n in os.listdir(args.data) if n.lower().endswith(OTHER_AUDIO))
        if other:  # they would be left out of predictions.csv without a word
            raise UsageError(f"--data {args.data!r} holds {len(other)} audio file(s) this "
                             f"reader cannot decode, e.g. {other[0]!r}; convert them to "
                             f"{', '.join(AUDIO_EXT)} or move them out of the folder.")
        paths = sorted(os.path.join(args.data, n) for n in os.listdir(args.data)
                       if n.lower().endswith(AUDIO_EXT))
        if not paths:
            raise UsageError(f"--data {args.data!r} holds no audio files "
                             f"({', '.join(AUDIO_EXT)}).")
    else:
        paths = [args.data]
    proba = clf.predict_proba(paths)  # (N, K)
    pred = clf.classes_[proba.argmax(1)]
    text = predictions_csv(paths, pred, proba.max(1))
    if out:
        atomic_text(os.path.join(out, "predictions.csv"), text)
        print(f"{len(paths)} predictions written to {os.path.join(out, 'predictions.csv')}")
    else:
        print(text, end="")
    return 0


# -- streaming -----------------------------------------------------------------------------
def _recognizer(args):
    from .stream import Recognizer

    clf = _load_model(args)
    try:
        return Recognizer(clf)
    except ValueError as err:
        raise UsageError(str(err)) from None


def run_listen(args: argparse.Namespace) -> int:
    from ...data.audio import read_wav

    predict_args(args, TRAIN_ONLY, "speech")
    if args.file is None:
        raise UsageError("listen needs the wav file to recognise: grukit speech listen "
                         "FILE --model DIR.")
    rec = _recognizer(args)
    y, _ = read_wav(args.file, rec.features.cfg.sample_rate)
    hop = rec.features.cfg.hop
    rec.reset()
    n = 0
    for i in range(0, len(y), hop):  # as a microphone would deliver it: 10 ms at a time
        for w in rec.push(y[i:i + hop]):
            print(f"{w.start:.2f} s  {w.word}", flush=True)
            n += 1
    for w in rec.flush():
        print(f"{w.start:.2f} s  {w.word}", flush=True)
        n += 1
    if n == 0:
        print(f"{args.file}: no words heard ({len(y) / rec.features.cfg.sample_rate:.2f} s)")
    return 0


def run_stream(args: argparse.Namespace) -> int:
    from ..._io import atomic_text
    from .latency import frame_latency
    from .longfiles import evaluate_stream

    predict_args(args, TRAIN_ONLY, "speech")
    files = 20 if args.files is None else args.files
    at_least("--files", files, 1)
    snr = 20.0 if args.snr is None else args.snr
    if not np.isfinite(snr):  # before the model loads; add_noise would name its snr_db
        raise UsageError(f"--snr must be a finite number of dB (e.g. 20); got {snr}.")
    out = prepare_output(args.output)
    RUN.start(out)
    rec = _recognizer(args)
    data = _recordings(args)
    _heard(rec.classifier, data, args)
    test = _scored(data)
    if len(test) < WORDS_PER_FILE:  # evaluate_stream would name an option this command lacks
        which = "its official test takes" if test is not data else "every file"
        raise UsageError(f"--data {data.folder!r} gives {len(test)} recording(s) to build the "
                         f"long files from ({which}); each file joins {WORDS_PER_FILE} "
                         f"different ones, so give {WORDS_PER_FILE} or more.")
    res = evaluate_stream(rec, test, files=files, words_per_file=WORDS_PER_FILE, snr_db=snr,
                          seed=0)
    from ...data.audio import read_wav

    lat = frame_latency(rec, read_wav(test.paths[0], rec.features.cfg.sample_rate)[0])
    res["latency"] = lat
    delay = ("no word recognised, so no delay" if res["delay_median"] is None else
             f"delay after a word ends: median {res['delay_median']:.3f} s, 90% "
             f"{res['delay_p90']:.3f} s")
    print(f"{files} long files, {res['words']} words, noise at {snr:g} dB SNR: digit error "
          f"rate {res['der']:.4f} ({res['errors']} edits); {delay}; real-time factor "
          f"{res['rtf']:.3f} ({res['ms_per_frame']:.3f} ms a frame, all stages)")
    torch_us = lat["torch_cell_us"]
    print(f"per 10 ms frame (median): features {lat['features_us']:.0f} µs + model "
          f"{lat['model_us']:.0f} µs = {lat['total_us']:.0f} µs of {lat['budget_us']:.0f} µs; "
          f"recurrent step {lat['stream_us']:.1f} µs (grukit Stream)"
          + (f" vs {torch_us:.1f} µs (torch.nn.{lat['torch_cell']})" if torch_us else ""))
    if out:
        atomic_text(os.path.join(out, "stream.json"), json.dumps(res, indent=2,
                                                                  allow_nan=False))
        print(f"wrote stream.json to {out}")
    return 0
