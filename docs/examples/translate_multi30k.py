"""German to English on Multi30K (image captions): a bidirectional GRU encoder and a GRU
decoder with Bahdanau attention, trained on sub-word vocabularies, scored with sacreBLEU
(BLEU and chrF) and perplexity on test_2016_flickr, saved, loaded and used to translate new
sentences, with the attention heat map of one of them.

    python docs/examples/translate_multi30k.py                    # the full run
    GRUKIT_DOCS_SMALL=1 python docs/examples/translate_multi30k.py  # seconds: the docs' CI check

The full run trains for at most 55 minutes of this process's CPU time (one thread); the
command line does the same with ``grukit translate train ... --minutes 55 --clock cpu``.

The data: ``$GRUKIT_SHARED_DATA/translation/multi30k/`` (``{train,val,test_2016_flickr}.
{de,en}.gz``, one sentence a line, aligned; Multi30K task 1, Elliott et al. 2016).
"""

import os
import sys
import tempfile
from pathlib import Path

import torch

from grukit.data import read_parallel
from grukit.tasks.translate import Translator
from grukit.tasks.translate.plot import plot_attention

SMALL = os.environ.get("GRUKIT_DOCS_SMALL") == "1"
SHARED = Path(os.environ.get("GRUKIT_SHARED_DATA", "../shared/data"))
DATA = SHARED / "translation" / "multi30k"

if not (DATA / "train.de.gz").is_file():
    print(f"skipped: {DATA / 'train.de.gz'} is absent; set GRUKIT_SHARED_DATA to the data "
          f"folder")
    sys.exit(77)
torch.set_num_threads(1)  # one thread: the budget below is this process's CPU time


def pairs(split):
    return read_parallel(str(DATA / f"{split}.de.gz"), str(DATA / f"{split}.en.gz"))


train, valid, test = pairs("train"), pairs("val"), pairs("test_2016_flickr")
train_src, train_tgt, valid_src, valid_tgt = train.src, train.tgt, valid.src, valid.tgt
if SMALL:  # 2,000 pairs, 200 to validate, 100 to test: a smoke test, its scores mean nothing
    train_src, train_tgt = train_src[:2000], train_tgt[:2000]
    valid_src, valid_tgt = valid_src[:200], valid_tgt[:200]
print(f"{len(train_src)} training pairs, {len(valid_src)} validation, {len(test)} test")

settings = dict(cell="gru", attention="bahdanau", vocab_size=6000, embed=256, hidden=384,
                epochs=40, max_seconds=55 * 60, clock="cpu", seed=0)
if SMALL:
    settings |= dict(vocab_size=500, embed=32, hidden=32, epochs=1, max_seconds=None)
tr = Translator(**settings).fit(train_src, train_tgt, valid=(valid_src, valid_tgt))
for row in tr.history_.history["val_ppl"]:
    print(f"validation perplexity {row:.2f}")

n = 100 if SMALL else len(test)
for beam in (5, 1):  # beam search (length penalty α 0.6), then greedy decoding
    scores = tr.evaluate(test.src[:n], test.tgt[:n], beam=beam)
    print(f"test, beam {beam}: BLEU {scores['bleu']:.2f}  chrF {scores['chrf']:.2f}  "
          f"perplexity {scores['perplexity']:.2f}")
print(scores["bleu_signature"])

sentences = ["Ein Hund rennt durch den Schnee.",
             "Zwei Kinder spielen am Strand mit einem Ball.",
             "Eine Frau in einem roten Kleid fährt Fahrrad."]
with tempfile.TemporaryDirectory() as folder:
    tr.save(folder)  # safetensors + JSON: the weights, both vocabularies, the settings
    loaded = Translator.load(folder)
for de, en in zip(sentences, loaded.translate(sentences, beam=5), strict=True):
    print(f"{de}  ->  {en}")
assert loaded.translate(sentences) == tr.translate(sentences)  # the same model after load

src_pieces, out_pieces, weights = loaded.attention(sentences[0])  # weights: (T_out, S)
print("wrote", plot_attention(src_pieces, out_pieces, weights, "attention.png",
                              title=loaded.translate(sentences[:1], beam=1)[0]))
