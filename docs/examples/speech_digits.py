"""Spoken digits (the Free Spoken Digit Dataset, official split): train a GRU on MFCC frames,
evaluate it, save and load it, then recognise the digits of a long recording (words, gaps
and background noise) fed to it 10 ms at a time, as a microphone would deliver them.

    python docs/examples/speech_digits.py                    # the full run
    GRUKIT_DOCS_SMALL=1 python docs/examples/speech_digits.py  # seconds: the docs' CI check

The data: ``$GRUKIT_SHARED_DATA/speech/fsdd/recordings/`` (``{digit}_{speaker}_{index}.wav``,
8 kHz; CC BY-SA 4.0).
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from grukit.data.audio import read_wav
from grukit.data.audio_folder import read_audio_folder
from grukit.tasks.speech import SpeechClassifier
from grukit.tasks.speech.estimator import label_word
from grukit.tasks.speech.longfiles import build_long_file
from grukit.tasks.speech.stream import Recognizer

SMALL = os.environ.get("GRUKIT_DOCS_SMALL") == "1"
SHARED = Path(os.environ.get("GRUKIT_SHARED_DATA", "../shared/data"))
DATA = SHARED / "speech" / "fsdd" / "recordings"

if not DATA.is_dir():
    print(f"skipped: {DATA} is absent; set GRUKIT_SHARED_DATA to the data folder")
    sys.exit(77)

rec = read_audio_folder(str(DATA))  # label, speaker and take from each file's name
if SMALL:  # one speaker, three digits
    rec = rec.take(np.flatnonzero((rec.speakers == "theo") & np.isin(rec.labels, ["0", "1", "2"])))
train, test = rec.split("official")  # takes 0-4 of every speaker and digit are the test set
print(f"{len(train)} training and {len(test)} test recordings, speakers: "
      f"{', '.join(sorted(set(rec.speakers.tolist())))}")

# a unidirectional GRU, so that it can stream; one noisy copy of each training recording
# (white noise at 15-25 dB SNR) prepares it for the noisy long file below
clf = SpeechClassifier(model="gru", hidden=16 if SMALL else 64, epochs=2 if SMALL else 40,
                       noise_copies=0 if SMALL else 1, seed=0)
clf.fit(train, train.labels)
epochs = len(clf.history_.history["loss"])
print(f"trained for {epochs} epochs (early stopping on 10% of the training recordings)")
scores = clf.evaluate(test, test.labels)
print(f"test accuracy {scores['accuracy']:.4f} on {scores['n']} recordings")

with tempfile.TemporaryDirectory() as tmp:  # safetensors + JSON
    clf.save(Path(tmp) / "digits")
    model = SpeechClassifier.load(Path(tmp) / "digits")
few = test.paths[:20]
same = np.array_equal(model.predict_proba(few), clf.predict_proba(few))
print(f"the loaded model gives the same probabilities: {same}")

# a long recording: 8 test words with 0.3-1.2 s gaps, white noise at 20 dB SNR
rng = np.random.default_rng(0)
pick = rng.choice(len(test), size=8, replace=False)
long = build_long_file([read_wav(test.paths[i], 8000)[0] for i in pick],
                       [str(test.labels[i]) for i in pick], rng, 8000, snr_db=20.0)
print(f"a {len(long.samples) / 8000:.1f} s recording; spoken:",
      ", ".join(f"{label_word(lab)} at {s:.2f} s"
                for s, lab in zip(long.starts, long.labels, strict=True)))

recognizer = Recognizer(model)  # one 10 ms frame at a time through grukit.nn.Stream
hop = 80  # samples: 10 ms at 8 kHz
for i in range(0, len(long.samples), hop):
    for w in recognizer.push(long.samples[i:i + hop]):
        print(f"  {w.start:.2f} s  {w.word:<6} (p {w.probability:.2f}, out at {w.emitted:.2f} s)")
for w in recognizer.flush():
    print(f"  {w.start:.2f} s  {w.word:<6} (p {w.probability:.2f}, out at {w.emitted:.2f} s)")
