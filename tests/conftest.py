import os
from pathlib import Path

# Keras is a test-only parity oracle; it must run on the torch backend.
os.environ.setdefault("KERAS_BACKEND", "torch")

# The shared data sets (music, text, sessions, ...): $GRUKIT_SHARED_DATA, else the
# ``shared/data`` folder beside the repository. Tests that need a file skip without it.
SHARED_DATA = Path(os.environ.get("GRUKIT_SHARED_DATA")
                   or Path(__file__).resolve().parents[1].parent / "shared" / "data")
