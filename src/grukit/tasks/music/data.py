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


def load_piano_rolls(path: str | Path) -> dict[str, list[Tensor]]:
    """Read a piano-roll .mat file into ``{"train", "valid", "test"}``: lists of float32
    tensors (T, 88) of 0/1.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is
    not a .mat file, lacks one of the three splits, or holds a sequence that is not
    (T ≥ 1, 88) of 0/1.
    """
    import scipy.io  # only this loader needs scipy

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"piano-roll file {str(path)!r} does not exist; give the path "
                                f"of a .mat file such as JSB_Chorales.mat.")
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as err:  # scipy raises several types for unreadable files
        raise ValueError(f"{str(path)!r} is not a MATLAB .mat file scipy can read ({err}); "
                         f"give a piano-roll file such as JSB_Chorales.mat.") from err
    missing = [key for key in SPLITS.values() if key not in mat]
    if missing:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{str(path)!r} lacks {missing}; a piano-roll file holds "
                         f"'traindata', 'validdata' and 'testdata' (it has {found}).")
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
