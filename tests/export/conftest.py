"""Shared by the runtime tests: a tiny SpeechClassifier trained on tones."""

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def tone_speech():
    """(a GRU(4) SpeechClassifier at 8 kHz trained one epoch on 300/1200 Hz tones, its four
    training waveforms)."""
    from grukit.tasks.speech.estimator import SpeechClassifier

    t, rng = np.arange(1600) / 8000, np.random.default_rng(0)
    waves = [(0.5 * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(len(t)))
             .astype(np.float32) for f in (300, 1200) * 2]
    torch.manual_seed(0)
    clf = SpeechClassifier(model="gru", hidden=4, epochs=1, validation_split=0,
                           spec_augment=False).fit(waves, ["low", "high"] * 2)
    return clf, waves
