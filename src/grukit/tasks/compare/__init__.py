"""``grukit compare``: GRU vs LSTM (and RNN, minGRU) measured on real data — parameters,
training time, inference latency, test metric, generalisation gap, long-sequence memory —
with a verdict per row. ``compare(CompareConfig(...))`` returns every number;
``report.write`` renders results.json, report.md, report.html and PNG plots."""

from .run import CompareConfig, compare

__all__ = ["CompareConfig", "compare"]
