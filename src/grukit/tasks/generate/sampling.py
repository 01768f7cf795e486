"""Sampling text from a language model, one token at a time.

    stepper = Stepper(net)                  # O(1) state per step for recurrent models
    logits = stepper.prime(prompt_ids)      # (V,) after the prompt
    logits = stepper.step(token)            # (V,) after one more token

A recurrent layer steps through ``grukit.nn.Stream`` (the cell's one-step kernel on CPU:
one fused call per step, its weights packed once): the whole RNN of a stacked model, the
RNN of each recurrent block of a residual or hybrid model (norms, projections and
feed-forwards around it in torch). Attention blocks step through their own forward with
T = 1 and a key-value cache over a sliding window of ``context`` steps.

``pick`` draws the next token: temperature (0: the most likely token), top-k (keep the k
most likely), top-p (keep the smallest set whose probability reaches p; Holtzman et al.
2020), from a ``torch.Generator`` seeded by the caller, so a seed gives the same text.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable

import numpy as np
import torch

from ...layers import RecurrentBlock
from ...nn import Stream
from .network import LanguageModel, state_bytes


def check_sampling(length, temperature, top_k, top_p) -> None:
    """One sentence for each bad sampling setting."""
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
        raise ValueError(f"length must be a positive integer (tokens to generate); got "
                         f"{length!r}.")
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) \
            or not 0 <= temperature < math.inf:
        raise ValueError(f"temperature must be a finite number ≥ 0 (0: always the most likely "
                         f"token); got {temperature!r}.")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral)
                              or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None; got {top_k!r}.")
    if isinstance(top_p, bool) or not isinstance(top_p, numbers.Real) or not 0 < top_p <= 1:
        raise ValueError(f"top_p must be a number in (0, 1]; got {top_p!r}.")


def pick(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float,
         gen: torch.Generator) -> int:
    """The next token drawn from ``logits`` (V,) with the settings above."""
    top = logits.max()  # NaN when any logit is NaN
    if not math.isfinite(top):  # argmax would pick a NaN's id, multinomial fail inside torch
        raise ValueError("the model's next-token scores are NaN or infinite, so no token can "
                         "be drawn; its weights are damaged or its training diverged: train it "
                         "again (with a lower lr).")
    if temperature == 0:
        return int(torch.argmax(logits))
    # shifted so the largest is 0 before dividing: a tiny temperature sends the others to
    # -inf (the most likely token) rather than every logit to ±inf (NaN probabilities)
    z = (logits.double() - top.double()) / temperature  # (V,)
    if top_k is not None and top_k < z.numel():  # exactly k, ties at the k-th included or not
        keep = torch.topk(z, top_k).indices  # (k,)
        z = torch.full_like(z, float("-inf")).index_copy(0, keep, z[keep])
    if top_p < 1:
        order = torch.argsort(z, descending=True)
        probs = torch.softmax(z[order], 0)
        before = torch.cumsum(probs, 0) - probs  # mass of the tokens ranked above each
        drop = order[before >= top_p]  # the first token always stays (before = 0)
        z = z.index_fill(0, drop, float("-inf"))
    return int(torch.multinomial(torch.softmax(z, 0), 1, generator=gen))


class Stepper:
    """Feed a language model token by token; see the module docstring."""

    def __init__(self, net: LanguageModel):
        self.net = net.eval()
        self.stream = None
        self.state = None
        self._w = net.head.weight.detach()  # (V, H)
        self._b = net.head.bias.detach()  # (V,)
        if net.layout == "stacked":
            self.stream = Stream(net.rnn)
            self._emb = net.embed.weight.detach().numpy()  # (V, H)
        else:  # a Stream per recurrent block: its weights packed once, not at every step
            self.streams = [Stream(b.rnn) if isinstance(b, RecurrentBlock) else None
                            for b in net.blocks]

    def _head(self, y) -> torch.Tensor:
        y = torch.from_numpy(y) if isinstance(y, np.ndarray) else y
        return torch.addmv(self._b, self._w, y)  # (V,)

    def prime(self, ids) -> torch.Tensor:
        """Logits (V,) after the prompt ``ids`` (T,), from zero state."""
        ids = torch.as_tensor(ids, dtype=torch.long)
        with torch.no_grad():
            if self.stream is not None:
                self.stream.reset()
                y = self.stream.feed(self.net.embed(ids))  # (T, H)
                return self._head(y[-1])
            x = self.net.embed(ids)[None]  # (1, T, D)
            self.state = [None] * len(self.streams)
            for k, (block, stream) in enumerate(zip(self.net.blocks, self.streams,
                                                    strict=True)):
                if stream is None:
                    x, self.state[k] = block(x, None)
                else:
                    stream.reset()
                    x = block.after_rnn(x, stream.feed(block.norm(x)[0])[None])  # (1, T, D)
            return self._head(self.net.norm(x)[0, -1])

    def step(self, token: int) -> torch.Tensor:
        """Logits (V,) after one more token."""
        with torch.no_grad():
            if self.stream is not None:
                return self._head(self.stream.step(self._emb[token]))
            x = self.net.embed.weight[token][None, None]  # (1, 1, D)
            for k, (block, stream) in enumerate(zip(self.net.blocks, self.streams,
                                                    strict=True)):
                if stream is None:
                    x, self.state[k] = block(x, self.state[k])
                else:
                    u = torch.from_numpy(stream.step(block.norm(x)[0, 0].numpy()))  # (H,)
                    x = block.after_rnn(x, u[None, None])
            return self._head(self.net.norm(x)[0, -1])

    @property
    def state_bytes(self) -> int:
        """Bytes of the state carried to the next step (recurrent states, key-value caches)."""
        if self.stream is not None:
            return state_bytes(self.stream.state)
        return state_bytes(self.state) + sum(state_bytes(s.state) for s in self.streams
                                             if s is not None)


def sample(net: LanguageModel, prompt_ids, length: int, *, temperature: float = 1.0,
           top_k: int | None = None, top_p: float = 1.0, seed: int = 0,
           on_token: Callable[[int], None] | None = None,
           trace: tuple[int, ...] = ()) -> tuple[list[int], dict]:
    """``length`` tokens after ``prompt_ids`` (T ≥ 1,), and the run's figures: tokens,
    seconds, tokens_per_second (prompt excluded; also per second of this process's CPU
    time, which other work on a shared machine does not inflate), state_bytes at the end
    and, for each n in ``trace``, ``state_bytes_at`` n generated tokens. ``on_token(id)``
    sees each token as it is drawn."""
    check_sampling(length, temperature, top_k, top_p)
    gen = torch.Generator().manual_seed(int(seed))
    stepper = Stepper(net)
    logits = stepper.prime(prompt_ids)
    out, at = [], {}
    wanted = set(trace)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(length):
        tok = pick(logits, temperature, top_k, top_p, gen)
        out.append(tok)
        if on_token is not None:
            on_token(tok)
        if i + 1 in wanted:
            at[i + 1] = stepper.state_bytes
        if i + 1 < length:
            logits = stepper.step(tok)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    stats = {"tokens": length, "seconds": seconds, "cpu_seconds": cpu,
             "tokens_per_second": length / seconds if seconds > 0 else float("inf"),
             "tokens_per_cpu_second": length / cpu if cpu > 0 else float("inf"),
             "state_bytes": stepper.state_bytes, "state_bytes_at": at}
    return out, stats
