"""Sequence classification sets from the UEA/UCR archive that sktime ships inside its wheel
(no download): JapaneseVowels (variable length, 12 channels, 9 speakers), BasicMotions, and a
few univariate UCR sets. ``grukit datasets`` lists them.

sktime reads the archive's ``.ts`` format; we use its loaders rather than parse ``.ts``
files by hand, and only turn its nested DataFrame into plain arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class UEAInfo:
    description: str
    loader: str  # the function in sktime.datasets
    channels: int
    classes: int
    train: int
    test: int


UEA = {
    "JapaneseVowels": UEAInfo("nine speakers saying /ae/, 12 LPC cepstra, 7-29 steps",
                              "load_japanese_vowels", 12, 9, 270, 370),
    "BasicMotions": UEAInfo("smartwatch accelerometer + gyroscope, 4 activities, 100 steps",
                            "load_basic_motions", 6, 4, 40, 40),
    "ArrowHead": UEAInfo("arrowhead outlines as 1-d series, 3 shapes, 251 steps",
                         "load_arrow_head", 1, 3, 36, 175),
    "GunPoint": UEAInfo("hand position, gun drawn or pointed, 150 steps",
                        "load_gunpoint", 1, 2, 50, 150),
    "ItalyPowerDemand": UEAInfo("daily electricity demand, winter or summer, 24 steps",
                                "load_italy_power_demand", 1, 2, 67, 1029),
    "PLAID": UEAInfo("appliance current signatures, 11 appliances, variable length",
                     "load_plaid", 1, 11, 537, 537),
}


def _sktime_datasets():
    try:
        from sktime import datasets
    except ImportError as err:
        raise ImportError("the UEA data sets come with sktime, which is not installed; run "
                          "`pip install grukit[uea]`.") from err
    return datasets


def load_uea(name: str, split: str = "train") -> tuple[list[np.ndarray], np.ndarray]:
    """One split ("train", "test" or "all") of a bundled UEA/UCR set.

    Returns ``(sequences, labels)``: a list of float32 arrays of shape (T_i, C) — lengths may
    differ between sequences — and a NumPy array of string labels, in the archive's order.
    """
    if not isinstance(name, str) or name not in UEA:
        close = [n for n in UEA if isinstance(name, str) and n.lower() == name.strip().lower()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown UEA data set {name!r}{hint}; choose one of {sorted(UEA)}.")
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all'; got {split!r}.")
    if split == "all":
        xa, ya = load_uea(name, "train")
        xb, yb = load_uea(name, "test")
        return xa + xb, np.concatenate([ya, yb])
    loader = getattr(_sktime_datasets(), UEA[name].loader)
    frame, labels = loader(split=split, return_X_y=True)  # nested DataFrame: a Series a cell
    sequences = []
    for i in range(len(frame)):
        cols = [np.asarray(frame.iloc[i, c], dtype=np.float32) for c in range(frame.shape[1])]
        sequences.append(np.stack(cols, axis=1))  # (T_i, C)
    labels = np.asarray(labels).astype(str)
    if len(sequences) != len(labels):
        raise ValueError(f"the {split} split of {name} has {len(sequences)} sequences but "
                         f"{len(labels)} labels; reinstall sktime (pip install grukit[uea]).")
    return sequences, labels
