"""Polyphonic music: next-frame prediction on piano rolls (JSB Chorales, Nottingham,
MuseData, Piano-midi.de), negative log-likelihood per time step, as Chung et al. (2014)."""

from .data import NOTES, as_rolls, load_piano_rolls, pad_batch
from .estimator import MusicModel
from .model import DEFAULT_HIDDEN, MODELS, PianoRollModel, count_params, nll_sum
from .noise import weight_noise
from .train import MusicConfig, MusicResult, evaluate_nll, train_music

__all__ = ["DEFAULT_HIDDEN", "MODELS", "NOTES", "MusicConfig", "MusicModel", "MusicResult",
           "PianoRollModel", "as_rolls", "count_params", "evaluate_nll", "load_piano_rolls",
           "nll_sum", "pad_batch", "train_music", "weight_noise"]
