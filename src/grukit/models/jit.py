"""``Sequential.compile(jit_compile=True)``'s training step: fit's forward and loss through
``torch.compile``, one static graph per batch size.

Each call of a compiled function first checks Dynamo's guards, the conditions under which
its graph is still valid. Tracing through grukit's layers, its dispatch and its kernel
entry adds guards on grukit's own code: that each function, class and module reached is
the one traced (``ID_MATCH`` on code objects, ``is`` between two paths to one module).
They hold for as long as grukit's code is not replaced, and a quarter of the guards are
theirs: on the article's model at T = 10, H = 8 (one thread, CPU time, three processes
each) the compiled step was 0.11–0.15 ms slower than eager with every guard and 0.05–0.11
ms with those left out. ``step`` leaves them out (``guard_filter_fn``, torch ≥ 2.7: found by name);
every other guard stays, those on grukit's values too (its backend registry, its
defaults), and so do those on the model, its weights and the inputs.
"""

from __future__ import annotations

import re
import sys
import types

import torch

# the guard kinds that say "this is the same code" (functions, classes, modules and two
# paths to one of them), kept on anything but grukit's own modules
_CODE = frozenset({"ID_MATCH", "CLOSURE_MATCH", "MODULE_MATCH", "CLASS_MATCH",
                   "BUILTIN_MATCH", "DUPLICATE_INPUT"})
_GRUKIT = "G['__import_grukit"  # how Dynamo names a grukit module reached from a global
# a grukit module, then attributes only: ``G['__import_grukit_dot_ops_dot_gru']._cpu.why_not``
_PATH = re.compile(r"G\['__import_(grukit\w*)'\]((?:\.\w+)*)")


def _is_code(name: str) -> bool:
    """Whether ``name`` is an attribute of a grukit module reached through modules alone:
    its code (a function, class or module defined there), not one of its values. A
    registry's entry (``dispatch._ORDERED['gru'][0].fn``, a backend that
    ``dispatch.register`` replaces), a closure's cell or anything reached through an
    object is a value: its guard stays."""
    m = _PATH.fullmatch(name)
    if m is None:
        return False
    obj = sys.modules.get(m.group(1).replace("_dot_", "."))
    for attr in m.group(2).split(".")[1:-1]:  # the modules on the way to the last name
        if not isinstance(obj, types.ModuleType):
            return False
        obj = getattr(obj, attr, None)
    return isinstance(obj, types.ModuleType)


def _code_unchanged(entries) -> list[bool]:
    """Keep every guard but those on the identity of grukit's own code."""
    return [not (e.name.startswith(_GRUKIT) and e.guard_type in _CODE and _is_code(e.name))
            for e in entries]


def step(fn):
    """``fn`` through ``torch.compile`` (static shapes), its graph failure told in one
    sentence."""
    from torch._dynamo.exc import BackendCompilerFailed

    options = {"guard_filter_fn": _code_unchanged} if _FILTERS else None
    compiled = torch.compile(fn, dynamic=False, options=options)

    def run(*args):
        try:
            return compiled(*args)
        except BackendCompilerFailed as err:
            why = str(err.inner_exception).strip().splitlines()[:1] or ["no reason given"]
            raise RuntimeError(f"jit_compile=True, but torch.compile could not compile the "
                               f"training step ({type(err.inner_exception).__name__}: "
                               f"{why[0]}); compile the model with jit_compile=False to "
                               f"train eagerly (training stopped at this batch).") from err
    return run


# torch.compile takes guard_filter_fn from torch 2.7 (with these helpers beside it)
_FILTERS = hasattr(torch.compiler, "skip_guard_on_globals_unsafe")
