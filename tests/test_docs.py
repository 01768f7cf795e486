"""The documentation site builds without a warning, documents every public name and every
command, and its tutorial scripts run.

``mkdocs build --strict`` runs once per session (a module fixture, about 10 s on 2 cores) into
a temporary folder; the checks below read the HTML it wrote. Each script in
``docs/examples/`` runs with ``GRUKIT_DOCS_SMALL=1`` (little data, few epochs: seconds); a
script whose data set is absent exits with status 77 and one line saying what is missing,
which skips its test. The scripts and the pages' Python blocks run in this process, as
``__main__``, so that torch and grukit are imported once.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))
SKIP_STATUS = 77  # a tutorial script's "my data is absent" (automake's convention)

# the packages whose every public name (``__all__``) the API reference must show
PUBLIC = ("grukit.nn", "grukit.layers", "grukit.models", "grukit.ops",
          "grukit.tasks.forecast", "grukit.tasks.classify", "grukit.tasks.recommend",
          "grukit.tasks.clinical", "grukit.tasks.compare", "grukit.tasks.speech",
          "grukit.tasks.generate", "grukit.tasks.translate", "grukit.tasks.music")

# Public classes and functions without a docstring of their own today (a dataclass's
# generated signature does not count). The API page lists them all the same; this list may
# only shrink: a new public name without a docstring fails test_public_names_have_docstrings.
UNDOCUMENTED: set[str] = set()


def _needs_mkdocs() -> None:
    for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(name, reason=f"{name} is not installed; pip install -e '.[docs]'")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, str]:
    """The site built with ``mkdocs build --strict``: (its folder, the build's log)."""
    _needs_mkdocs()
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                          str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    log = run.stdout + run.stderr
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{log[-6000:]}"
    return out, log


def _ids(site_dir: Path, under: str) -> set[str]:
    ids: set[str] = set()
    for page in (site_dir / under).rglob("index.html"):
        ids |= set(re.findall(r'id="([^"]+)"', page.read_text(encoding="utf-8")))
    return ids


def test_site_builds_strict_without_warnings(site):
    site_dir, log = site
    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert not warnings, "the build warned:\n" + "\n".join(warnings)
    for page in ("index.html", "getting-started/index.html", "gru-math/index.html",
                 "backends/index.html", "cli/index.html", "changelog/index.html"):
        assert (site_dir / page).is_file(), f"{page} was not built"


def _public(module_name: str) -> list[tuple[str, object]]:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    assert names, f"{module_name} has no __all__ to document"
    return [(name, getattr(module, name)) for name in names]


def _anchors(module_name: str, name: str, obj: object) -> set[str]:
    """Where the reference may show ``obj``: under the package's name, or where it is
    defined (``grukit.ops.gru`` is both a package and the function it exports)."""
    found = {f"{module_name}.{name}"}
    if inspect.ismodule(obj):
        found.add(obj.__name__)
    elif getattr(obj, "__module__", None) and getattr(obj, "__qualname__", None):
        found.add(f"{obj.__module__}.{obj.__qualname__}")
        found.add(f"{obj.__module__.rsplit('.', 1)[0]}.{obj.__qualname__}")
    return found


@pytest.mark.parametrize("module_name", PUBLIC)
def test_api_reference_shows_every_public_name(site, module_name):
    ids = _ids(site[0], "api")
    missing = [name for name, obj in _public(module_name)
               if not _anchors(module_name, name, obj) & ids]
    assert not missing, f"the API reference lacks {module_name}: {', '.join(missing)}"


def _own_doc(obj: object) -> str:
    doc = obj.__doc__ or ""
    if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}("):
        return ""  # a dataclass's generated signature, not a docstring
    return doc.strip()


@pytest.mark.parametrize("module_name", PUBLIC)
def test_public_names_have_docstrings(module_name):
    lacking = sorted(f"{module_name}.{name}" for name, obj in _public(module_name)
                     if (inspect.isclass(obj) or inspect.isroutine(obj)) and not _own_doc(obj))
    new = [name for name in lacking if name not in UNDOCUMENTED]
    assert not new, f"public names without a docstring: {', '.join(new)}"


def test_cli_reference_has_every_command(site):
    from grukit.cli import build_parser

    sys.path.insert(0, str(ROOT / "docs" / "hooks"))
    try:
        from cli_reference import _subcommands
    finally:
        sys.path.remove(str(ROOT / "docs" / "hooks"))
    page = (site[0] / "cli" / "index.html").read_text(encoding="utf-8")
    commands = [name for name, _, _ in _subcommands(build_parser())]
    assert len(commands) >= 5, f"the parser walk found only {commands}"
    missing = [c for c in commands if f'id="grukit-{c}"' not in page]
    assert not missing, f"the CLI reference lacks: {', '.join(missing)}"
    assert "show this help message and exit" in page  # argparse's own text, not a copy


def test_every_example_is_included_in_a_page():
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").rglob("*.md"))
    assert EXAMPLES, "docs/examples/ has no script"
    orphans = [p.name for p in EXAMPLES if f'"examples/{p.name}"' not in pages]
    assert not orphans, f"examples included in no page: {', '.join(orphans)}"


def _python_blocks(page: Path) -> list[str]:
    """The ```python blocks of a page, without those that include a file (``--8<--``)."""
    blocks = re.findall(r"^```python\n(.*?)^```$", page.read_text(encoding="utf-8"),
                        flags=re.S | re.M)
    return [b for b in blocks if "--8<--" not in b]


PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if _python_blocks(p))


def test_python_blocks_are_found():
    names = {p.relative_to(ROOT / "docs").as_posix() for p in PAGES}
    assert {"getting-started.md", "gru-math.md", "backends.md"} <= names, names


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_code_runs(page, tmp_path, monkeypatch):
    """A page's Python blocks, run in order as one script, as a reader would paste them (in
    this process: torch and grukit are imported once for every page and script)."""
    monkeypatch.chdir(tmp_path)
    code = compile("\n\n".join(_python_blocks(page)), f"<{page.name}>", "exec")
    exec(code, {"__name__": "__main__"})


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_small(script, tmp_path, monkeypatch, capsys):
    """The script as ``python docs/examples/<script>`` runs it, with the small setting. A
    script may set torch's thread count for its own process; this one gets its count back."""
    import torch

    monkeypatch.setenv("GRUKIT_DOCS_SMALL", "1")
    monkeypatch.setenv("GRUKIT_SHARED_DATA", str(SHARED_DATA))
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as stop:
        if stop.code == SKIP_STATUS:
            lines = capsys.readouterr().out.strip().splitlines()
            pytest.skip(lines[-1] if lines else f"{script.name}: its data is absent")
        assert stop.code in (None, 0), f"{script.name} exited {stop.code}"
    finally:
        torch.set_num_threads(threads)
    assert capsys.readouterr().out.strip(), f"{script.name} printed nothing"


def _documented_commands() -> list[tuple[str, list[str]]]:
    """Each ``grukit ...`` command of the pages' ```bash blocks (indented ones too), as
    (page, words): continuation lines joined, comments, environment assignments and the
    other commands of a pipe or ``&&`` chain left out."""
    import shlex

    found = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        if page.name == "changelog.md":  # history: it names options that are gone
            continue
        text = page.read_text(encoding="utf-8")
        for _indent, block in re.findall(r"^( *)```bash\n(.*?)^\1```$", text, flags=re.S | re.M):
            for line in block.replace("\\\n", " ").splitlines():
                for part in re.split(r"\|\||&&|\||;", line):
                    try:
                        words = shlex.split(part, comments=True)
                    except ValueError:  # a quote opened in another part of the line
                        continue
                    while words and re.fullmatch(r"[A-Za-z_]\w*=\S*", words[0]):
                        words = words[1:]
                    if words and words[0] == "grukit":
                        found.append((page.relative_to(ROOT / "docs").as_posix(), words))
    return found


def test_documented_commands_parse():
    """Every ``grukit`` command the pages show is one the parser takes: its subcommand,
    options and choices exist (nothing runs)."""
    import contextlib
    import io

    from grukit.cli import build_parser

    commands = _documented_commands()
    assert len(commands) >= 20, f"found only {len(commands)} documented commands"
    parser = build_parser()
    refused = []
    for page, words in commands:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                parser.parse_args(words[1:])
        except SystemExit as stop:
            if stop.code:
                said = err.getvalue().strip().splitlines() or [""]
                refused.append(f"{page}: {' '.join(words)}: {said[-1]}")
    assert not refused, "documented commands the parser refuses:\n" + "\n".join(refused)
