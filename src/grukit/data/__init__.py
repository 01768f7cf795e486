"""Data readers: time series (built in, or a CSV), labelled text, UEA/UCR sequence sets and
session logs for recommendation. Each reads the correct data or refuses bad input with one
sentence naming the file, the column or the value."""

from .series import load_builtin, read_series_csv, season_of
from .sessions import Sessions, index_sessions, read_events, split_by_days
from .text import read_labelled_text, read_text_file
from .uea import load_uea

__all__ = ["Sessions", "index_sessions", "load_builtin", "load_uea", "read_events",
           "read_labelled_text", "read_series_csv", "read_text_file", "season_of",
           "split_by_days"]
