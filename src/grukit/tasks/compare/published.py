"""Published reference figures for the music task, keyed by the data set they were measured
on, so that a report compares only with numbers for the data it was given.

A piano-roll set is identified by its fingerprint: the numbers of train, valid and test
sequences (Boulanger-Lewandowski et al. 2012's four sets differ in all three). Each entry
names the set, and for each figure the paper, its table and where the number was read.

Known sets:
    JSB Chorales   229 / 76 / 77  (counted in JSB_Chorales.mat, the file Chung et al.
                                   2014 trained on)

Nottingham, MuseData and Piano-midi.de are left out until their sequence counts and
figures are read from the papers themselves: a figure whose source cannot be named is not
shown.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    paper: str
    table: str
    values: dict  # model name -> test NLL per time step (nats)
    source: str  # where the numbers were read


@dataclass(frozen=True)
class DataSet:
    name: str
    counts: tuple[int, int, int]  # train, valid, test sequences
    figures: tuple[Figure, ...]


KNOWN = (
    DataSet("JSB Chorales", (229, 76, 77), (
        Figure("Chung et al. 2014, Empirical Evaluation of Gated Recurrent Neural Networks on "
               "Sequence Modeling (arXiv:1412.3555)",
               "Table 2, test NLL per time step, models of about 20K parameters",
               {"tanh RNN": 9.10, "GRU": 8.54, "LSTM": 8.67},
               "the paper's Table 2, JSB Chorales test row"),
        Figure("Bai et al. 2018, An Empirical Evaluation of Generic Convolutional and "
               "Recurrent Networks for Sequence Modeling (arXiv:1803.01271)",
               "Table 1, JSB Chorales loss (test NLL), larger models than Chung et al.'s",
               {"GRU": 8.43, "LSTM": 8.45},
               "the paper's Table 1, JSB Chorales row"),
    )),
)


def fingerprint(sizes: dict) -> tuple[int, int, int]:
    """{"train": n, "valid": n, "test": n} (sequence counts) -> (train, valid, test)."""
    return (int(sizes.get("train", 0)), int(sizes.get("valid", 0)), int(sizes.get("test", 0)))


def lookup(sizes: dict) -> DataSet | None:
    """The known set whose sequence counts equal ``sizes``, or None."""
    key = fingerprint(sizes)
    return next((d for d in KNOWN if d.counts == key), None)


def notes(sizes: dict) -> dict:
    """The report's notes on published figures for data of these sequence counts: one note
    per figure of the matching set, or one note saying that none is known."""
    found = lookup(sizes)
    counts = "/".join(str(n) for n in fingerprint(sizes))
    if found is None:
        known = "; ".join(f"{d.name} {'/'.join(map(str, d.counts))}" for d in KNOWN)
        return {"published test NLL": (
            f"no published figure is known for this data (its train/valid/test sequence "
            f"counts {counts} match none of the known sets: {known})")}
    out = {"data set": f"{found.name} (identified by its train/valid/test sequence counts "
                       f"{counts})"}
    for f in found.figures:
        out[f"published test NLL on {found.name} ({f.paper}; {f.table})"] = dict(f.values)
    return out
