"""Classify the sentiment of short reviews (UCI Sentiment Labelled Sentences) with a GRU
over word embeddings, against a TF-IDF + logistic regression baseline.

    python docs/examples/classify_sentiment.py                    # the full run
    GRUKIT_DOCS_SMALL=1 python docs/examples/classify_sentiment.py  # seconds: the docs' CI check

The data: ``$GRUKIT_SHARED_DATA/text/*_labelled.txt`` (``sentence<TAB>label``, no header;
CC BY 4.0, Kotzias et al. 2015).
"""

import os
import sys
from pathlib import Path

import numpy as np

from grukit.data.text import read_labelled_text
from grukit.tasks.classify import TextClassifier, TfidfLogReg, classification_scores

SMALL = os.environ.get("GRUKIT_DOCS_SMALL") == "1"
DATA = Path(os.environ.get("GRUKIT_SHARED_DATA", "../shared/data")) / "text"

files = sorted(str(p) for p in DATA.glob("*_labelled.txt"))
if not files:
    print(f"skipped: no *_labelled.txt in {DATA}; set GRUKIT_SHARED_DATA to the data folder")
    sys.exit(77)
data = read_labelled_text(files[:1] if SMALL else files, header=False)
texts, labels = list(data.texts), np.asarray(data.labels)
if SMALL:
    texts, labels = texts[:400], labels[:400]
print(f"{len(texts)} sentences, classes {sorted(set(labels.tolist()))}")

# a fixed shuffle, then 80% to train and 20% to test
order = np.random.default_rng(0).permutation(len(texts))
cut = int(0.8 * len(texts))
train, test = order[:cut], order[cut:]
x_train, y_train = [texts[i] for i in train], labels[train]
x_test, y_test = [texts[i] for i in test], labels[test]

model = TextClassifier(model="gru", epochs=1 if SMALL else 20, seed=0,
                       **({"embed_dim": 16, "hidden": 16} if SMALL else {}))
model.fit(x_train, y_train)
scores = model.evaluate(x_test, y_test)
print(f"GRU:            accuracy {scores['accuracy']:.3f}  macro F1 {scores['macro_f1']:.3f}")

baseline = TfidfLogReg().fit(x_train, y_train)
base = classification_scores(y_test, baseline.predict(x_test), sorted(set(labels)))
print(f"TF-IDF + LogReg: accuracy {base['accuracy']:.3f}  macro F1 {base['macro_f1']:.3f}")

print("a prediction:", model.predict(["the battery died after a day"])[0])
why = model.explain("not good at all", top=3)  # the tokens attention weighed most
print("why:", ", ".join(f"{token} {weight:.3f}" for token, weight in why))
