"""MkDocs hook: the Keras-style layers that ``grukit.layers`` makes from cell specs.

``grukit.layers`` builds a layer class at import time (``layer_for(spec)``) for every cell
of ``grukit.cells`` that has no class written out (LayerNormGRU today). Static analysis,
which the rest of the API reference uses, cannot see them, and inspecting the package by
import would run ``grukit.__main__``; so this hook imports ``grukit.layers`` and replaces
the marker ``<!-- spec-layers -->`` in ``docs/api/layers.md`` with one entry per such class:
its signature and docstring, under the anchor ``grukit.layers.<Name>``.
"""

from __future__ import annotations

import inspect
import sys

MARKER = "<!-- spec-layers -->"


def spec_layers() -> list[type]:
    """Classes in ``grukit.layers.__all__`` not defined at the top of their module."""
    import grukit.layers as layers

    made = []
    for name in layers.__all__:
        obj = getattr(layers, name)
        home = sys.modules.get(getattr(obj, "__module__", ""), None)
        if inspect.isclass(obj) and getattr(home, obj.__qualname__, None) is not obj:
            made.append(obj)
    return made


def spec_layers_markdown() -> str:
    from grukit import cells

    parts = []
    for cls in spec_layers():
        spec = getattr(cls, "spec", None)
        names = [n for n in dir(cells) if n.isupper() and getattr(cells, n) is spec]
        made_from = f"`layer_for(grukit.cells.{names[0]})`" if names else "`layer_for`"
        signature = str(inspect.signature(cls))
        parts += [f"## `grukit.layers.{cls.__name__}` {{#grukit.layers.{cls.__name__}}}\n",
                  f"```python\n{cls.__name__}{signature}\n```\n",
                  inspect.cleandoc(cls.__doc__ or "") + "\n",
                  f"Made at import time by {made_from}; its arguments are those of the other "
                  f"recurrent layers (see `grukit.layers.GRU`).\n"]
    return "\n".join(parts) if parts else "(none today)\n"


def on_page_markdown(markdown: str, page, **kwargs) -> str:
    if page.file.src_uri != "api/layers.md":
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/api/layers.md lost its marker {MARKER!r}; put it back where "
                         f"the layers made from cell specs go.")
    return markdown.replace(MARKER, spec_layers_markdown())
