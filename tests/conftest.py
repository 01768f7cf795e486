import os

# Keras is a test-only parity oracle; it must run on the torch backend.
os.environ.setdefault("KERAS_BACKEND", "torch")
