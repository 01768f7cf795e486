"""Data readers: time series (built in, or a CSV), labelled text, UEA/UCR sequence sets,
session logs for recommendation and irregular clinical series (PhysioNet 2012, long CSV).
Each reads the correct data or refuses bad input with one sentence naming the file, the
column or the value."""

from .clinical import ClinicalData, read_long_csv, read_physionet2012
from .series import load_builtin, read_series_csv, season_of
from .sessions import Sessions, index_sessions, read_events, split_by_days
from .text import read_labelled_text, read_text_file
from .uea import load_uea

__all__ = ["ClinicalData", "Sessions", "index_sessions", "load_builtin", "load_uea",
           "read_events", "read_labelled_text", "read_long_csv", "read_physionet2012",
           "read_series_csv", "read_text_file", "season_of", "split_by_days"]
