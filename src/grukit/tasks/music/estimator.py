"""``MusicModel``: the next-frame piano-roll model as an estimator (fit, evaluate, predict,
save, load), trained by ``train_music`` with Chung et al. (2014)'s recipe.

    >>> data = load_piano_rolls("JSB_Chorales.mat")       # or give the path to fit
    >>> model = MusicModel(model="gru", max_epochs=50).fit(data)
    >>> model.evaluate(data["test"])                       # {"nll": per time step, ...}
    >>> model.predict(data["test"][0])                     # (T, 88) note probabilities
    >>> model.save("jsb-gru"); MusicModel.load("jsb-gru")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..estimator import Estimator, load_module_state
from .data import as_rolls, load_piano_rolls
from .model import PianoRollModel
from .train import MusicConfig, MusicResult, evaluate_nll, train_music

RESULT_KEYS = ("params", "epoch_seconds", "eval_seconds", "train_curve", "val_curve",
               "best_epoch", "seconds_to_best", "total_seconds", "stop_reason", "train_nll",
               "val_nll", "test_nll")


class MusicModel(Estimator):
    """Polyphonic music: p(frame t | frames before t) as 88 independent Bernoulli notes.

    The settings are those of ``MusicConfig`` (model, hidden, lr, optimizer, weight_noise,
    clip, max_epochs, patience, seed, ...). ``fit(data)`` trains on ``data["train"]``,
    early-stops on ``data["valid"]`` and keeps the best-validation weights; the run's
    curves and NLLs are in ``result_`` (a ``MusicResult``) and ``history_``.
    """

    config_class = MusicConfig

    def __init__(self, **config):
        self.config = MusicConfig(**self._checked_settings(config))

    # -- training ----------------------------------------------------------------------------
    def fit(self, data, on_epoch=None, *, callbacks=None, resume_from=None,
            verbose=0) -> MusicModel:
        """Train on ``data``: what ``load_piano_rolls`` returns (a dict of "train", "valid"
        and optionally "test" lists of (T, 88) rolls) or the path of such a .mat file.
        ``on_epoch(epoch, train_nll, val_nll)`` is called after each epoch; ``callbacks``
        (``grukit.models`` callbacks) see ``loss`` and ``val_loss``; ``resume_from``
        continues from a ``ModelCheckpoint`` file written at an epoch's end; ``verbose``: 0
        silent, 1 a progress bar, 2 a line per epoch. Returns self."""
        self.fitted_ = False  # a failed fit leaves no half-trained model behind
        if isinstance(data, (str, Path)):
            data = load_piano_rolls(data)
        elif isinstance(data, dict):
            unknown = sorted(set(data) - {"train", "valid", "test"})
            if unknown:
                raise ValueError(f"data has splits {unknown}; a MusicModel trains on 'train', "
                                 f"early-stops on 'valid' and reports 'test' (optional).")
            for split in ("train", "valid"):
                if split not in data:
                    raise ValueError(f"data lacks the {split!r} split; give 'train' and "
                                     f"'valid' (and optionally 'test') lists of piano rolls.")
            data = {k: as_rolls(v, f"data[{k!r}]") for k, v in data.items()}
        else:
            raise TypeError(f"fit takes a dict of splits ('train', 'valid', 'test') of piano "
                            f"rolls or the path of a piano-roll .mat file; got a "
                            f"{type(data).__name__}.")
        res = train_music(data, self.config, on_epoch=on_epoch, callbacks=callbacks,
                          resume_from=resume_from, verbose=verbose)
        self.network_, self.result_ = res.model, res
        self.history_ = _history(res)
        self.fitted_ = True
        return self

    # -- inference ---------------------------------------------------------------------------
    def evaluate(self, rolls) -> dict:
        """NLL per time step (nats) of ``rolls`` (one (T, 88) roll or a list): {"nll",
        "frames": the frames it averages over, "sequences"}. Frame t = 0 counts only with
        ``count_first``."""
        self._check_fitted("evaluate")
        rolls = as_rolls(rolls)
        first = 0 if self.config.count_first else 1
        frames = sum(max(r.shape[0] - first, 0) for r in rolls)
        if frames == 0:
            raise ValueError("these rolls have no frame to score: each is one step long and "
                             "frame 0 is not counted (set count_first=True to count it).")
        nll = evaluate_nll(self.network_, rolls, self.config.eval_batch_size,
                           self.config.count_first)
        return {"nll": nll, "frames": frames, "sequences": len(rolls)}

    def predict(self, rolls):
        """Note probabilities: for a roll (T, 88), an array (T, 88) whose row t is
        p(key on at step t | steps before t) (row 0 reads a silent frame); for a list of
        rolls, a list of such arrays."""
        self._check_fitted("predict")
        single = isinstance(rolls, (np.ndarray, torch.Tensor))
        rolls = as_rolls(rolls)
        net = self.network_.eval()
        out = []
        with torch.no_grad():
            for r in rolls:
                logits = net(r.unsqueeze(0))[0]  # (T, 88)
                out.append(torch.sigmoid(logits).numpy())
        return out[0] if single else out

    # -- files -------------------------------------------------------------------------------
    def _state(self) -> tuple[dict, dict]:
        tensors = {f"network.{k}": v for k, v in self.network_.state_dict().items()}
        res = self.result_.to_dict()
        return tensors, {"result": {k: res[k] for k in RESULT_KEYS}}

    def _restore(self, tensors: dict, extras: dict) -> None:
        cfg = self.config
        where = "the saved MusicModel"
        try:
            saved = extras["result"]
            missing = [k for k in RESULT_KEYS if k not in saved]
            if missing:
                raise KeyError(missing[0])
        except (KeyError, TypeError) as err:
            raise ValueError(f"{where} lacks its training record ({err}); it was written by "
                             f"another version or edited. Save the model again.") from None
        net = PianoRollModel(cfg.model, cfg.hidden, forget_bias=cfg.forget_bias)
        load_module_state(net, tensors, "network.", where)
        net.eval()
        res = MusicResult(model_name=cfg.model, hidden=cfg.hidden, config=self.get_config(),
                          model=net, **{k: saved[k] for k in RESULT_KEYS})
        self.network_, self.result_, self.history_ = net, res, _history(res)


def _history(res: MusicResult):
    """The per-epoch record as a ``grukit.models`` History (loss: training NLL measured
    during the epoch, with weight noise; val_loss: validation NLL; epoch_seconds)."""
    from ...models.callbacks import History

    h = History()
    for e, (tr, va, s) in enumerate(zip(res.train_curve, res.val_curve, res.epoch_seconds,
                                        strict=True)):
        h.on_epoch_end(e, {"loss": tr, "val_loss": va, "epoch_seconds": s})
    return h
