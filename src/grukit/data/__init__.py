"""Data loaders: session logs for recommendation (more loaders join as tasks need them)."""

from .sessions import Sessions, index_sessions, read_events, split_by_days

__all__ = ["Sessions", "index_sessions", "read_events", "split_by_days"]
