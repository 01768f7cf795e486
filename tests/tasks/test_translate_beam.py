"""Beam search against exhaustive search: on a decoder whose next-token distribution is a
fixed table (step, previous token) and a beam wide enough to keep every prefix, beam search
must return the hypothesis with the best length-normalised score of all, for any length
penalty α, with its early stop."""

import itertools
import math

import pytest
import torch

from grukit.tasks.translate.decode import beam_search, greedy
from grukit.tasks.translate.tokenizer import BOS_ID, EOS_ID

V, L, WORDS = 6, 5, (1, 4, 5)  # ids: 0 PAD, 1 UNK, 2 BOS, 3 EOS, 4-5 words


class _Encoded:
    def __init__(self, b: int):
        self.state = (torch.zeros(b, dtype=torch.long),)  # the step counter (B,)

    def select(self, index):
        return _Encoded(len(index))


class _TableNet:
    """log p(next | step, previous) from a random table; PAD and BOS never drawn."""

    def __init__(self, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.table = torch.randn(L + 1, V, V, generator=g, dtype=torch.float64) * 2
        self.table[..., 0] = self.table[..., BOS_ID] = float("-inf")

    def encode(self, src, lengths):
        return _Encoded(src.shape[0])

    def step(self, prev, state, feed, enc):
        t = state[0]
        return self.table[t.clamp(max=L), prev], (t + 1,), None, None


def _best_of_all(net: _TableNet, alpha: float) -> list[int]:
    """Every translation of at most L tokens (EOS included), scored log p / lp(n) in the log
    domain: log(−log p) − α·log((5 + n) / 6), lower is better."""
    best = None
    for m in range(L):
        for words in itertools.product(WORDS, repeat=m):
            prev, logp = BOS_ID, 0.0
            for t, tok in enumerate([*words, EOS_ID]):
                logp += torch.log_softmax(net.table[t, prev], -1)[tok].item()
                prev = tok
            cost = math.log(-logp) - alpha * math.log((5 + m + 1) / 6)
            if best is None or cost < best[0]:
                best = (cost, list(words))
    return best[1]


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0, 5000.0],
                         ids=["alpha0", "alpha0.6", "alpha2", "alpha5000-past-float-range"])
def test_a_beam_wide_enough_for_every_prefix_finds_the_best_translation(alpha):
    # α = 5000 overflowed ((5 + n) / 6) ** α, a Python float: OverflowError from inside
    src, lengths = torch.ones(1, 3, dtype=torch.long), torch.tensor([3])
    for seed in range(6):
        net = _TableNet(seed)
        got = beam_search(net, src, lengths, L, beam=3 ** L, alpha=alpha)[0]
        assert got == _best_of_all(net, alpha), seed


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("beam", [1, 3])
def test_nan_or_infinite_scores_are_refused_not_decoded(bad, beam):
    # argmax and top-k took a NaN's id for the most likely token: a silent wrong translation
    net = _TableNet(0)
    net.table[0, :, 4] = bad  # the first step's scores (-inf for PAD and BOS stay legal)
    src, lengths = torch.ones(1, 3, dtype=torch.long), torch.tensor([3])
    with pytest.raises(ValueError, match="next-token scores are NaN or infinite"):
        if beam == 1:
            greedy(net, src, lengths, L)
        else:
            beam_search(net, src, lengths, L, beam=beam, alpha=0.6)
