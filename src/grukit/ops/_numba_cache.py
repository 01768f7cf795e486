"""numba's on-disk cache of the CPU kernels, kept fresh when a helper they use changes.

numba stamps a cached kernel with its own file's modification time and size only. A kernel
inlines or calls helpers from other files (``_cpu_math``, ``_gemm``, ``_jit``, ``_vnni``;
``gru/quant.py`` the gate math of ``gru/cpu.py``), and a change there leaves that stamp as
it was: the next process loads machine code built from the old helper, a silent wrong
result in a working copy (a fresh install writes every file anew, so it was not hit there).

``install()`` puts a locator in front of each of numba's file-backed ones (the cache
beside the source, ``NUMBA_CACHE_DIR``, the user-wide cache) that serves the kernels of
this package (of ``ROOTS``) with the same paths, but stamps them with their own file's
stamp *and* that of every kernel-bearing module of the tree (a ``.py`` file that mentions
``njit``, ``chunked_kernel``, ``prange`` or ``intrinsic``): editing any of them recompiles
every kernel once. The modules that define kernels import one of ``_cpu_math``, ``_jit``
or ``_vnni`` first, which install it before numba sees a kernel (a test checks every
kernel's locator). Relies on numba's locator classes (``CacheImpl._locator_classes``,
present since numba 0.49); where they are missing, numba's own stamp stays.
"""

from __future__ import annotations

import os

ROOTS = [os.path.dirname(os.path.abspath(__file__))]  # trees whose kernels are stamped
MARKS = (b"njit", b"chunked_kernel", b"prange", b"intrinsic")
_stamps: dict[str, tuple] = {}  # root -> its stamp, once per process


def tree_stamp(root: str) -> tuple:
    """(relative path, mtime in ns, size) of each kernel-bearing ``.py`` file under
    ``root``, sorted: what a change to any of them changes."""
    if root not in _stamps:
        found = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(folder, name)
                try:
                    with open(path, "rb") as f:
                        text = f.read()
                    st = os.stat(path)
                except OSError:  # unreadable or gone: it cannot be a kernel's helper now
                    continue
                if any(m in text for m in MARKS):
                    found.append((os.path.relpath(path, root), st.st_mtime_ns, st.st_size))
        _stamps[root] = tuple(found)
    return _stamps[root]


def _root_of(py_file: str) -> str | None:
    path = os.path.abspath(py_file)
    return next((r for r in ROOTS if path.startswith(r + os.sep)), None)


class _TreeStamped:
    """Mixin over one of numba's file-backed locators: this package's kernels only, their
    stamp widened to the tree's."""

    grukit_tree = True

    @classmethod
    def from_function(cls, py_func, py_file):
        if _root_of(py_file) is None:
            return None  # not ours: numba's own locators take it
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return super().get_source_stamp(), tree_stamp(_root_of(self._py_file))


def install() -> bool:
    """Put the tree-stamped locators first (once); False where numba lacks the hooks."""
    try:
        from numba.core import caching
    except ImportError:  # pragma: no cover - numba is a dependency
        return False
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    mixin = getattr(caching, "_SourceFileBackedLocatorMixin", None)
    classes = getattr(impl, "_locator_classes", None)
    if impl is None or mixin is None or not isinstance(classes, list):
        return False
    if any(getattr(c, "grukit_tree", False) for c in classes):
        return True
    ours = [type(c.__name__ + "GrukitTree", (_TreeStamped, c), {}) for c in classes
            if issubclass(c, mixin)]
    impl._locator_classes = ours + classes
    return True


install()
