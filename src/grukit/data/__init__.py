"""Data readers: time series (built in, or a CSV), labelled text, UEA/UCR sequence sets,
session logs for recommendation, irregular clinical series (PhysioNet 2012, long CSV),
parallel text for translation and labelled audio (wav folders; the ``audio`` extra reads
and resamples them).
Each reads the correct data or refuses bad input with one sentence naming the file, the
column or the value."""

from .audio import read_wav
from .audio_folder import Recordings, read_audio_folder
from .clinical import ClinicalData, read_long_csv, read_physionet2012
from .parallel import ParallelText, read_lines, read_parallel
from .series import load_builtin, read_series_csv, season_of
from .sessions import Sessions, index_sessions, read_events, split_by_days
from .text import read_labelled_text, read_text_file
from .uea import load_uea

__all__ = ["ClinicalData", "ParallelText", "Recordings", "Sessions", "index_sessions",
           "load_builtin", "load_uea", "read_audio_folder", "read_events",
           "read_labelled_text", "read_lines", "read_long_csv", "read_parallel",
           "read_physionet2012", "read_series_csv", "read_text_file", "read_wav", "season_of",
           "split_by_days"]
