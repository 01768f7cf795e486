"""Shakespeare, one character at a time: train a two-layer GRU language model on
tinyshakespeare (the last 10 % held out), evaluate it in nats and bits per character, save
and load it, sample a continuation of a prompt under a seed, and stream a longer one token by
token (through ``grukit.nn.Stream``: the same few kilobytes of state whatever the length).

    python docs/examples/generate_shakespeare.py                    # the full run
    GRUKIT_DOCS_SMALL=1 python docs/examples/generate_shakespeare.py  # seconds: the docs' CI check

The full run trains for 5 minutes of this process's CPU time on one thread (the 5-minute GRU
of the benchmarks); the command line does the same with ``grukit generate train --data
tinyshakespeare.txt --model gru --hidden 384 --lr 3e-3 --minutes 5 --clock cpu --threads 1``.

The data: ``$GRUKIT_SHARED_DATA/text/tinyshakespeare.txt`` (1.1 million characters of the
plays, as char-rnn and nanoGPT use it; public domain).
"""

import os
import sys
import tempfile
from pathlib import Path

import torch

from grukit.tasks.generate import TextGenerator

SMALL = os.environ.get("GRUKIT_DOCS_SMALL") == "1"
SHARED = Path(os.environ.get("GRUKIT_SHARED_DATA", "../shared/data"))
DATA = SHARED / "text" / "tinyshakespeare.txt"

if not DATA.is_file():
    print(f"skipped: {DATA} is absent; set GRUKIT_SHARED_DATA to the data folder")
    sys.exit(77)
torch.set_num_threads(1)  # one thread: the budget below is this process's CPU time

text = DATA.read_text(encoding="utf-8")
if SMALL:  # the first 20,000 characters: a smoke test, its numbers mean nothing
    text = text[:20_000]

# batch 32 x 128 characters, state carried from window to window (truncated BPTT), AdamW
# with warm-up and cosine decay over the budget, tied embeddings; validation every 200 steps
settings = dict(model="gru", hidden=384, layers=2, lr=3e-3, max_steps=0, max_seconds=5 * 60,
                clock="cpu", seed=0)
if SMALL:
    settings |= dict(hidden=32, max_steps=20, max_seconds=0, eval_every=10)
gen = TextGenerator(**settings).fit(text=text)
res = gen.result_
for point in res["curve"]:
    print(f"step {point['step']:>4}  {point['seconds']:6.1f} CPU-s  training loss "
          f"{point['loss']:.3f}  validation {point['val_loss']:.3f} nats/char")
print(f"{res['params']:,} parameters, {res['steps']} steps; validation on the last "
      f"{res['val_chars']:,} characters: {res['val_loss']:.3f} nats/char, "
      f"{res['val_bits_per_char']:.3f} bits/char, perplexity {res['val_perplexity']:.2f}")

# any text can be scored; a passage of the held-out part:
passage = text[-res["val_chars"]:][:5000]
scores = gen.evaluate(text=passage)
print(f"a held-out passage of {len(passage):,} characters: {scores['loss']:.3f} nats/char, "
      f"{scores['bits_per_char']:.3f} bits/char")

with tempfile.TemporaryDirectory() as tmp:  # safetensors + JSON, no pickle
    gen.save(Path(tmp) / "shakespeare-gru")
    model = TextGenerator.load(Path(tmp) / "shakespeare-gru")

# a prompt, a temperature below 1 (safer choices), nucleus sampling and a seed: the same
# seed gives the same text, also from the loaded model
sample = model.generate("ROMEO:", length=300, temperature=0.8, top_p=0.95, seed=1)
again = gen.generate("ROMEO:", length=300, temperature=0.8, top_p=0.95, seed=1)
print(f"ROMEO:{sample}")
print(f"\nthe loaded model writes the same text under the same seed: {sample == again}")

# streaming: each piece of text is handed over as soon as its token is drawn
print("\nJULIET:", end="")
model.generate("JULIET:", length=500, temperature=0.8, seed=2,
               on_text=lambda piece: print(piece, end="", flush=True))
stats = model.last_stats_
print(f"\n\n{stats['tokens']} tokens at {stats['tokens_per_second']:,.0f} tokens/s (batch 1, "
      f"one thread); state carried from token to token: {stats['state_bytes']:,} bytes")

try:  # a prompt the vocabulary cannot encode is refused in one sentence
    model.generate("ROMEO: ¿", length=10)
except ValueError as err:
    print(f"refused: {err}")
