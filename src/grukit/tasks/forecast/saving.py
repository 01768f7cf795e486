"""Saving a Forecaster (``Estimator.save``): its networks (the first under ``network.``, the
others of an ensemble under ``member1.``, ...), the per-series scaling and smoothing
parameters, the calibration residuals, the recent history and its time stamps."""

from __future__ import annotations

import numpy as np
import torch

from ..estimator import load_module_state
from . import scaling
from .checks import check_season


def state(self) -> tuple[dict, dict]:
    n = len(self.stats)
    tensors = {}
    for j, net in enumerate(self.nets):
        prefix = "network." if j == 0 else f"member{j}."
        tensors |= {prefix + k: v for k, v in net.state_dict().items()}
    tensors |= scaling.stats_tensors(self.stats, self.n_cov)
    for i in range(n):
        tensors[f"last.{i}"] = np.array(self.last[i], np.float64)  # (lookback,)
        tensors[f"calib.{i}"] = np.array(self.calib[i], np.float64)  # (n_val, horizon)
        if self.last_cov is not None:
            tensors[f"last_cov.{i}"] = np.array(self.last_cov[i], np.float64)  # (L, C)
    extras = {"season": int(self.season), "lookback": self._lookback(self.season),
              "single": bool(self.single), "n_series": n, "n_cov": int(self.n_cov),
              "differences": self._differences,
              # differences="auto": what the fit chose, with the test's p-value and errors
              "chosen": getattr(self, "chosen_", None),
              "times": [None if t is None else dict(t) for t in self.times]}
    return tensors, extras


def restore(self, tensors: dict, extras: dict) -> None:
    where = "the saved Forecaster"
    try:
        season, n, n_cov = int(extras["season"]), int(extras["n_series"]), \
            int(extras["n_cov"])
        check_season(season)
        lookback = self._lookback(season)
        if int(extras["lookback"]) != lookback:
            raise ValueError(f"lookback {extras['lookback']} does not follow from its "
                             f"settings ({lookback})")
        self.season, self.n_cov, self.single = season, n_cov, bool(extras["single"])
        if self.config.differences == "auto":  # what its fit chose
            self.differences_ = int(extras["differences"])
            if self.differences_ not in (0, 1):
                raise ValueError(f"differences {self.differences_} is not 0 or 1")
            chosen = extras.get("chosen")  # (absent from a model saved before it was kept)
            if chosen is not None:
                self.chosen_ = {"differences": int(chosen["differences"]),
                                "p": float(chosen["p"]),
                                "mae_values": float(chosen["mae_values"]),
                                "mae_changes": float(chosen["mae_changes"])} | (
                    {"windows": int(chosen["windows"]), "tested": bool(chosen["tested"])}
                    if "windows" in chosen else {})  # (absent before they were kept)
        self.times = [None if t is None else {"end": str(t["end"]), "freq": str(t["freq"])} |
                      {k: str(t[k]) for k in ("tz", "name", "weekmask")
                       if t.get(k) is not None} |
                      ({"holidays": [str(d) for d in t["holidays"]]} if "holidays" in t
                       else {}) |
                      ({"hours": [[str(h) for h in t["hours"][0]],
                                  [str(h) for h in t["hours"][1]]]} if "hours" in t else {})
                      for t in extras["times"]]
        get = {k: v.numpy() for k, v in tensors.items()
               if not k.startswith(("network.", "member"))}
        self.stats = scaling.stats_from(get, n)
        if (self.stats[0].es is not None) != bool(self.config.hybrid):
            raise ValueError("its smoothing parameters do not match hybrid=")
        self.last = [get[f"last.{i}"] for i in range(n)]
        self.calib = [get[f"calib.{i}"] for i in range(n)]
        self.last_cov = [get[f"last_cov.{i}"] for i in range(n)] if n_cov else None
        need = self.history_needed(season)
        if len(self.times) != n or any(len(x) < need for x in self.last) or \
                any(s.cmean.shape != (n_cov,) for s in self.stats):
            raise ValueError("its series do not match their count, lookback or "
                             "covariates")
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise ValueError(f"{where} is incomplete or damaged ({type(err).__name__}: {err}); "
                         f"save the model again.") from None
    self.nets = []
    for j, lb in enumerate(self._lookbacks(season)):
        with torch.random.fork_rng(devices=[]):  # building draws initial weights
            net = self._network(lb)
        load_module_state(net, tensors, "network." if j == 0 else f"member{j}.", where)
        net.eval()
        self.nets.append(net)
