"""grukit translate's progress bar shows tokens/s at every batch: the latest batch's rate and
the epoch's so far, and training on a terminal uses it."""

import io
import sys

from grukit.tasks.translate import Translator
from grukit.tasks.translate import progress as progress_mod
from grukit.tasks.translate.progress import TokenProgress


def test_the_bar_shows_each_batchs_and_the_epochs_tokens_per_second():
    now = [100.0]
    counter = {"tokens": 0}
    bar = TokenProgress(1, 2, counter, clock=lambda: now[0])
    bar.on_epoch_begin(0)
    try:
        counter["tokens"], now[0] = 1000, 100.5  # first batch: 1,000 tokens in 0.5 s
        bar.on_batch_end(0, {"loss": 3.25})
        assert bar.progress.tasks[0].fields["info"] == \
            "loss 3.2500 · 2,000 tok/s (epoch 2,000)"
        counter["tokens"], now[0] = 4000, 101.5  # second: 3,000 tokens in 1 s
        bar.on_batch_end(1, {"loss": 3.0})
        assert bar.progress.tasks[0].fields["info"] == \
            "loss 3.0000 · 3,000 tok/s (epoch 2,667)"
        assert bar.progress.tasks[0].completed == 2
    finally:
        bar.on_epoch_end(0, {"loss": 3.1})


class _Terminal(io.StringIO):
    """Standard output that says it is a terminal (and stays open for whatever keeps it)."""

    def isatty(self):
        return True


def test_training_on_a_terminal_updates_the_token_bar_at_every_batch(monkeypatch):
    seen = []
    original = TokenProgress.text

    def spy(self, logs):
        out = original(self, logs)
        seen.append((self.counter["tokens"], out))
        return out

    monkeypatch.setattr(progress_mod.TokenProgress, "text", spy)
    monkeypatch.setattr(sys, "stdout", _Terminal())
    src = ["ab cd", "cd ef gh", "ef ab", "gh gh ab cd"] * 20
    tgt = [s.upper() for s in src]
    tr = Translator(embed=8, hidden=8, vocab_size=30, epochs=1, batch_tokens=60, dropout=0.0)
    tr.fit(src, tgt, verbose=1)
    steps = len(seen)
    assert steps > 3  # one update per batch, not one per epoch
    counts = [n for n, _ in seen]
    assert counts == sorted(counts) and counts[0] > 0  # tokens so far, growing batch by batch
    assert all(" tok/s (epoch " in text for _, text in seen)
    # the epoch's count at the last batch is what the epoch logs as its rate's numerator
    assert tr.history_.history["tokens_per_s"][0] > 0
