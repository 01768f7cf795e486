"""Pipelines for the jobs GRUs are used for."""
