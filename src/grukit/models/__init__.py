"""Keras-style models: ``Sequential``, ``load_model`` (also ``load``), ``save_model``,
callbacks."""

from .callbacks import (
    BackupAndRestore,
    Callback,
    CSVLogger,
    EarlyStopping,
    EpochTimer,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from .keras_import import from_keras
from .loading import load_model, model_from_json
from .loading import load_model as load
from .loop import NonFiniteLoss, Step, Trainee, train_loop
from .saving import load_weights, save_model
from .sequential import Sequential
from .tensorboard import TensorBoard
from .training import optimizer

__all__ = ["BackupAndRestore", "CSVLogger", "Callback", "EarlyStopping", "EpochTimer",
           "History", "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint",
           "NonFiniteLoss", "ProgressBar", "ReduceLROnPlateau", "Sequential", "Step",
           "TensorBoard", "TerminateOnNaN", "Trainee", "from_keras", "load", "load_model",
           "load_weights", "model_from_json", "optimizer", "save_model", "train_loop"]
