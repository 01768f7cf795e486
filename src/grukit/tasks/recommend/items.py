"""The item map of a recommender: original item ids (all integers, or all text) ↔ indices.

Ids keep their type. A lookup finds an integer item from ``1``, ``np.int64(1)``, ``1.0`` or
the text ``"1"``, and a text item ``"123"`` from the number ``123``; ``True``, ``1.5`` and
other values are never an item.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

import numpy as np

from ...data.sessions import item_key
from ...data.sessions import whole_number as _whole_number


class ItemMap:
    """``ids`` (n_items,): int64, or an object array of str; ``index`` maps id -> position."""

    def __init__(self, ids: np.ndarray):
        self.ids = ids
        self.kind = "int" if ids.dtype.kind == "i" else "str"
        self.index = {v: i for i, v in enumerate(ids.tolist())}

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, vocab) -> ItemMap:
        """Check and normalise a vocabulary: one type (whole numbers or text), no repeats."""
        arr = np.asarray(vocab)
        if arr.ndim != 1 or len(arr) == 0:
            raise ValueError(f"the item vocabulary must be a non-empty 1-D list of ids; got "
                             f"shape {arr.shape}.")
        if arr.dtype.kind == "u" and arr.max() > np.iinfo(np.int64).max:  # would wrap
            raise ValueError(f"item id {int(arr.max())} lies past the int64 range; give such "
                             f"ids as text (read_events does).")
        if arr.dtype.kind in "iu":
            ids = arr.astype(np.int64)
        elif arr.dtype.kind in "fO":
            values = arr.tolist()
            if all(isinstance(v, (str, np.str_)) for v in values):
                ids = np.array([str(v) for v in values], dtype=object)
            else:
                nums = [_whole_number(v) if not isinstance(v, str) else None for v in values]
                bad = [v for v, n in zip(values, nums, strict=True) if n is None]
                if bad:
                    raise ValueError(f"item id {bad[0]!r} is neither a whole number nor text "
                                     f"(or numbers and text are mixed); item ids must be all "
                                     f"whole numbers or all text.")
                big = next((n for n in nums if not -2 ** 63 <= n < 2 ** 63), None)
                if big is not None:  # numpy's OverflowError otherwise
                    raise ValueError(f"item id {big} lies past the int64 range; give such ids "
                                     f"as text (read_events does).")
                ids = np.array(nums, dtype=np.int64)
        elif arr.dtype.kind == "U":
            ids = np.array(arr.tolist(), dtype=object)
        else:
            raise ValueError(f"item ids of dtype {arr.dtype} are not supported; item ids must "
                             f"be whole numbers or text.")
        if len(set(ids.tolist())) != len(ids):
            seen, dup = set(), None
            for v in ids.tolist():
                if v in seen:
                    dup = v
                    break
                seen.add(v)
            raise ValueError(f"item id {dup!r} appears twice in the item vocabulary; each item "
                             f"needs one index.")
        return cls(ids)

    def key(self, v):
        """The stored id ``v`` stands for (int or str), or None when it cannot be one."""
        return item_key(v, self.kind == "str")

    def lookup(self, items, what: str, skip: bool = False) -> np.ndarray:
        """Indices (N,) of the ids in ``items``; ids the model does not know are named in one
        sentence, or left out with ``skip``."""
        if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
            raise TypeError(f"{what} must be a list of item ids, oldest first; got "
                            f"{type(items).__name__} {items!r} (wrap a single item in a list).")
        if isinstance(items, (Set, Mapping)):  # a set has no order: its own order was taken
            raise TypeError(f"{what} must be a list of item ids, oldest first; got a "
                            f"{type(items).__name__}, which keeps no order of events (give a "
                            f"list).")
        # arrays (numpy, torch, pandas) by their values: a torch tensor's elements are 0-d
        # tensors, which are no id (tensor([7, 8]) was named as items the model never saw)
        array = hasattr(items, "ndim") and hasattr(items, "tolist")
        if array and items.ndim != 1:
            raise ValueError(f"{what} must be one session, a 1-D list of item ids; got shape "
                             f"{tuple(items.shape)}.")
        values = items.tolist() if array else list(items)
        found, unknown = [], []
        for v in values:
            i = self.index.get(self.key(v))
            (unknown if i is None else found).append(v if i is None else i)
        if unknown and not skip:
            shown = ", ".join(repr(v) for v in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            hint = " (this model's item ids are text)" if self.kind == "str" and \
                all(not isinstance(v, str) for v in unknown) else \
                " (this model's item ids are whole numbers)" if self.kind == "int" and \
                all(isinstance(v, str) for v in unknown) else ""
            raise ValueError(f"{what} holds {len(unknown)} item id(s) this model never saw in "
                             f"training: {shown}{more}{hint}; drop them or pass "
                             f"unknown='skip'.")
        return np.asarray(found, np.int64)

    def _keys(self, series):
        return series.map(self.key)

    def known(self, series) -> np.ndarray:
        """(N,) bool: which values of a pandas Series are items of this map."""
        return self._keys(series).map(lambda k: k in self.index).to_numpy(bool)

    def canonical(self, series):
        """The stored ids for the (known) values of a pandas Series (``1.0`` -> ``1``)."""
        return self._keys(series)

    def same(self, vocab) -> bool:
        try:
            other = ItemMap.of(vocab)
        except ValueError:
            return False
        return other.kind == self.kind and len(other) == len(self) and \
            bool(np.all(other.ids == self.ids))

    # -- saving ------------------------------------------------------------------------------
    def state(self) -> tuple[dict, dict]:
        if self.kind == "int":
            return {"items": self.ids}, {"item_type": "int"}
        return {}, {"item_type": "str", "items": self.ids.tolist()}

    @classmethod
    def restore(cls, tensors: dict, extras: dict, n: int) -> ItemMap:
        kind = extras["item_type"]
        if kind == "int":
            ids = tensors["items"].numpy().astype(np.int64)
        elif kind == "str":
            if not all(isinstance(v, str) for v in extras["items"]):
                raise ValueError("text item ids hold a non-text value")
            ids = np.array(extras["items"], dtype=object)
        else:
            raise ValueError(f"unknown item_type {kind!r}")
        if ids.shape != (n,):
            raise ValueError(f"{len(ids)} item ids for {n} items")
        return cls.of(ids)
