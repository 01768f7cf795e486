"""Speech: spoken-word recognition from wav files (``SpeechClassifier``) and from a live
stream of 10 ms frames (``Recognizer``); ``grukit speech`` is the command."""

from .estimator import SpeechClassifier, SpeechConfig

__all__ = ["SpeechClassifier", "SpeechConfig"]
