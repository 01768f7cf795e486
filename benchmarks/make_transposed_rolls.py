"""A larger piano-roll set from one .mat: each split holds its sequences and their
transpositions by the given numbers of semitones (keys pushed past either end of the 88 are
dropped), in the same .mat layout. JSB_Chorales.mat with the default shifts (-1, +1) gives a
set three times its size, 687 / 228 / 231 sequences:

    python benchmarks/make_transposed_rolls.py ../shared/data/music/JSB_Chorales.mat jsb3.mat
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.io

from grukit.tasks.music.data import SPLITS, load_piano_rolls


def transpose(roll: np.ndarray, shift: int) -> np.ndarray:
    """(T, 88) 0/1 -> the same roll ``shift`` semitones higher (negative: lower)."""
    out = np.zeros_like(roll)
    if shift >= 0:
        out[:, shift:] = roll[:, :roll.shape[1] - shift]
    else:
        out[:, :shift] = roll[:, -shift:]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source")
    ap.add_argument("target")
    ap.add_argument("--shifts", type=int, nargs="+", default=[-1, 1])
    args = ap.parse_args()
    rolls = load_piano_rolls(args.source)
    out = {}
    for split, key in SPLITS.items():
        seqs = [r.numpy().astype(np.uint8) for r in rolls[split]]
        seqs += [transpose(s, k) for k in args.shifts for s in seqs[:len(rolls[split])]]
        cell = np.empty((1, len(seqs)), dtype=object)
        cell[0, :] = seqs
        out[key] = cell
    scipy.io.savemat(args.target, out)
    print(" / ".join(f"{out[k].shape[1]} {s}" for s, k in SPLITS.items()), "->", args.target)


if __name__ == "__main__":
    main()
