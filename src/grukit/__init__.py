"""grukit: gated recurrent networks for PyTorch.

``grukit.ops`` (functional recurrences), ``grukit.nn`` (torch.nn drop-ins),
``grukit.convert`` (Keras / torch weights), ``grukit.count_params``.
"""

from ._params import count_params

__version__ = "0.1.0"
__all__ = ["__version__", "convert", "count_params", "nn", "ops"]


def __getattr__(name: str):
    if name in ("nn", "ops", "convert"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'grukit' has no attribute {name!r}")
