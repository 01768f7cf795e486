"""The kernels' on-disk cache follows the helpers they inline (``grukit.ops._numba_cache``)."""

import importlib
import os
import subprocess
import sys
import textwrap

import numba
import pytest

from grukit.ops import _numba_cache

DRIVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from grukit.ops import _numba_cache
    _numba_cache.ROOTS.append(sys.argv[1] + "/pkg")
    import pkg.kern as k
    print(k.f(), sum(k.f.stats.cache_hits.values()), sum(k.f.stats.cache_misses.values()))
""")


def _run(tmp_path) -> tuple[int, int, int]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    out = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return tuple(int(v) for v in out.stdout.split())


def _helper(pkg, value: int, mtime: int) -> None:
    path = pkg / "helper.py"
    path.write_text("from numba import njit\n\n\n@njit(inline='always')\n"
                    f"def value():\n    return {value}\n")
    os.utime(path, ns=(mtime, mtime))


def test_a_cached_kernel_is_rebuilt_when_a_helper_it_inlines_changes(tmp_path):
    """numba stamps a cached kernel with its own file only; a kernel in kern.py that inlines
    helper.py must not be served from the cache once helper.py changed (kern.py untouched)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "kern.py").write_text("from numba import njit\n\nfrom .helper import value\n\n\n"
                                 "@njit(cache=True)\ndef f():\n    return value()\n")
    t0 = 1_700_000_000 * 10**9
    _helper(pkg, 1, t0)
    assert _run(tmp_path) == (1, 0, 1)  # compiled, then written to the cache
    assert _run(tmp_path) == (1, 1, 0)  # the cache serves it: nothing changed
    _helper(pkg, 2, t0 + 5 * 10**9)  # the same size, a later mtime
    assert _run(tmp_path) == (2, 0, 1)  # rebuilt from the new helper
    assert _run(tmp_path) == (2, 1, 0)


def _kernel_modules() -> list[str]:
    root = _numba_cache.ROOTS[0]
    names = []
    for rel, _, _ in _numba_cache.tree_stamp(root):
        name = "grukit.ops." + rel[:-3].replace(os.sep, ".")
        names.append(name.removesuffix(".__init__"))
    return names


def _dispatchers(module):
    for value in vars(module).values():
        for d in (value, getattr(value, "serial", None), getattr(value, "parallel", None)):
            if isinstance(d, numba.core.registry.CPUDispatcher) \
                    and d.__module__ == module.__name__:
                yield d


@pytest.mark.parametrize("name", _kernel_modules())
def test_every_cached_kernel_is_stamped_with_the_tree(name):
    """A kernel module that decorated a kernel before the tree-stamped locators were in
    place would keep numba's own stamp (and its stale builds)."""
    module = importlib.import_module(name)
    cached = [d for d in _dispatchers(module) if d._cache.__class__.__name__ != "NullCache"]
    for d in cached:
        locator = d._cache._impl.locator
        assert getattr(locator, "grukit_tree", False), (d, type(locator).__mro__)
        stamp = d._cache._cache_file._source_stamp
        assert stamp[1] == _numba_cache.tree_stamp(_numba_cache.ROOTS[0])
    if name.endswith(("gru.cpu", "_cpu_math", "_vnni")):
        assert cached, f"{name} has cached kernels; none were found"


def test_the_tree_stamp_skips_what_it_cannot_read_and_modules_without_kernels(tmp_path):
    (tmp_path / "kern.py").write_text("from numba import njit\n")
    (tmp_path / "plain.py").write_text("x = 1\n")
    (tmp_path / "gone.py").symlink_to(tmp_path / "nowhere.py")  # open() fails
    stamp = _numba_cache.tree_stamp(str(tmp_path))
    assert [rel for rel, _, _ in stamp] == ["kern.py"]
