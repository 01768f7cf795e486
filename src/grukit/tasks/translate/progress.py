"""The training progress bar of ``grukit translate``: the running loss and tokens per second,
the latest batch's and the epoch's so far, updated at every batch."""

from __future__ import annotations

import time

from ...models.callbacks import ProgressBar


class TokenProgress(ProgressBar):
    """``ProgressBar`` whose text after each batch is

        loss 3.1416 · 5,120 tok/s (epoch 4,870)

    ``counter["tokens"]``: the source + target tokens stepped on so far this epoch (the
    training step adds each batch's; it is reset to 0 before the epoch's first batch). The
    batch rate is the latest batch's tokens over the time since the previous batch ended (or
    the epoch began): data preparation, forward, backward and update."""

    def __init__(self, epochs: int, steps: int | None, counter: dict, clock=time.perf_counter):
        super().__init__(epochs, steps)
        self.counter, self.clock = counter, clock

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self.started = self.last = self.clock()
        self.seen = 0

    def text(self, logs: dict | None) -> str:
        """The bar's text after a batch (and bookkeeping for the next one)."""
        now, tokens = self.clock(), int(self.counter["tokens"])
        batch = (tokens - self.seen) / max(now - self.last, 1e-9)
        epoch = tokens / max(now - self.started, 1e-9)
        self.last, self.seen = now, tokens
        loss = (logs or {}).get("loss", float("nan"))
        return f"loss {loss:.4f} · {batch:,.0f} tok/s (epoch {epoch:,.0f})"

    def on_batch_end(self, batch, logs=None):
        self.progress.update(self.task, advance=1, info=self.text(logs))
