"""Piano rolls of Boulanger-Lewandowski et al. (2012): JSB Chorales, Nottingham, MuseData,
Piano-midi.de, as the .mat files Chung et al. (2014) trained on.

Each file holds ``traindata``, ``validdata`` and ``testdata``: a (1, N) cell array of
sequences, each (T, 88) of 0/1 — one row per time step, one column per piano key
(A0 … C8), 1 where the key sounds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

NOTES = 88  # piano keys A0 … C8
SPLITS = {"train": "traindata", "valid": "validdata", "test": "testdata"}
LAYOUT = (f"a .mat such as JSB_Chorales.mat holding 'traindata', 'validdata' and 'testdata', "
          f"each a cell array of (T, {NOTES}) 0/1 piano rolls")


def load_piano_rolls(path: str | Path) -> dict[str, list[Tensor]]:
    """Read a piano-roll .mat file into ``{"train", "valid", "test"}``: lists of float32
    tensors (T, 88) of 0/1.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is
    not a .mat file, lacks one of the three splits, or holds a sequence that is not
    (T ≥ 1, 88) of 0/1.
    """
    import scipy.io  # only this loader needs scipy

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; give a piano-roll .mat file ({LAYOUT}).")
    if not path.is_file():
        raise FileNotFoundError(f"piano-roll file {str(path)!r} does not exist; give the path "
                                f"of a .mat file such as JSB_Chorales.mat.")
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as err:  # scipy raises several types for unreadable files
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ValueError(f"{str(path)!r} is not a MATLAB .mat file scipy can read ({reason}); "
                         f"give a piano-roll file ({LAYOUT}).") from None
    missing = [key for key in SPLITS.values() if key not in mat]
    if missing:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{str(path)!r} lacks {missing} (it has {found}); a piano-roll file "
                         f"is {LAYOUT}.")
    return {split: _sequences(mat[key], key, path) for split, key in SPLITS.items()}


def _sequences(cell: np.ndarray, key: str, path: Path) -> list[Tensor]:
    """A cell array (1, N) of (T, 88) arrays, or a numeric (N, T, 88) array -> tensors."""
    if cell.dtype == object:
        items = list(cell.ravel())
    elif cell.ndim == 3:  # equal-length sequences saved as one array
        items = list(cell)
    else:
        raise ValueError(f"{str(path)!r}: {key!r} must be a cell array of (T, {NOTES}) "
                         f"sequences; got a {cell.dtype} array of shape {cell.shape}.")
    if not items:
        raise ValueError(f"{str(path)!r}: {key!r} holds no sequences.")
    out = []
    for i, seq in enumerate(items):
        seq = np.asarray(seq)
        if seq.ndim != 2 or seq.shape[1] != NOTES or seq.shape[0] == 0:
            raise ValueError(f"{str(path)!r}: sequence {i} of {key!r} has shape {seq.shape}; "
                             f"each must be (T ≥ 1, {NOTES}): time steps by piano keys.")
        if not np.isin(seq, (0, 1)).all():
            raise ValueError(f"{str(path)!r}: sequence {i} of {key!r} holds values other "
                             f"than 0 and 1; a piano roll marks each key on (1) or off (0).")
        out.append(torch.as_tensor(seq.astype(np.float32)))  # (T, 88)
    return out


def pad_batch(rolls: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Right-pad sequences (T_i, 88) to (B, max T, 88) with zeros; returns it and lengths (B,)."""
    lengths = torch.tensor([r.shape[0] for r in rolls])
    x = rolls[0].new_zeros(len(rolls), int(lengths.max()), rolls[0].shape[1])  # (B, T, 88)
    for i, r in enumerate(rolls):
        x[i, : r.shape[0]] = r
    return x, lengths


def as_rolls(value, what: str = "rolls") -> list[Tensor]:
    """One piano roll (T, 88) or a list of them (numpy arrays or tensors of 0/1, any numeric
    or bool dtype) -> a list of float32 tensors (T, 88); one sentence for anything else."""
    single = isinstance(value, (np.ndarray, Tensor))
    if single:
        items = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise TypeError(f"{what} must be a piano roll (T, {NOTES}) or a list of them (numpy "
                        f"arrays or tensors of 0/1); got a {type(value).__name__}.")
    if not items:
        raise ValueError(f"{what} is an empty list; give at least one piano roll "
                         f"(T, {NOTES}).")
    out = []
    for i, roll in enumerate(items):
        name = what if single else f"{what}[{i}]"
        if isinstance(roll, Tensor):
            roll = roll.detach().cpu().numpy()
        if not isinstance(roll, np.ndarray) or not (roll.dtype == bool or
                                                    np.issubdtype(roll.dtype, np.number)):
            kind = getattr(roll, "dtype", type(roll).__name__)
            raise TypeError(f"{name} is a {kind}; a piano roll is a numeric (T, {NOTES}) "
                            f"array of 0/1.")
        if roll.ndim != 2 or roll.shape[1] != NOTES or roll.shape[0] == 0:
            raise ValueError(f"{name} has shape {roll.shape}; a piano roll is (T ≥ 1, "
                             f"{NOTES}): time steps by piano keys.")
        if not np.isin(roll, (0, 1)).all():
            bad = roll[~np.isin(roll, (0, 1))].ravel()[0].item()
            raise ValueError(f"{name} holds {bad!r}; a piano roll marks each key on (1) or "
                             f"off (0).")
        out.append(torch.as_tensor(roll.astype(np.float32)))  # (T, 88)
    return out
