"""MkDocs hook: the CLI reference, written from ``grukit.cli.build_parser()`` at build time.

``docs/cli.md`` holds the marker ``<!-- cli-reference -->``; this hook replaces it with one
section per command and subcommand (found by walking the argparse parser), each with the help
text argparse itself prints, so the page cannot drift from the parser.
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- cli-reference -->"
WIDTH = "88"  # argparse wraps help text to $COLUMNS; fixed so that builds are reproducible


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each subcommand of ``parser``, in registration order."""
    found = []
    for action in parser._actions:  # argparse keeps no public list of its subparsers
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias of a command already listed
                    continue
                seen.add(id(sub))
                found.append((name, helps.get(name, ""), sub))
    return found


def _sections(parser: argparse.ArgumentParser, path: str, level: int) -> list[str]:
    out = []
    for name, summary, sub in _subcommands(parser):
        full = f"{path} {name}"
        out.append(f"{'#' * level} `{full}`\n")
        if summary:
            out.append(f"{summary[0].upper()}{summary[1:]}.\n" if not summary.endswith(".")
                       else f"{summary[0].upper()}{summary[1:]}\n")
        out.append(f"```text\n{sub.format_help().rstrip()}\n```\n")
        out.extend(_sections(sub, full, min(level + 1, 6)))
    return out


def cli_markdown() -> str:
    """The reference as Markdown: ``grukit --help``, then each subcommand's help."""
    from grukit.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parser = build_parser()
        parts = ["## `grukit`\n", f"```text\n{parser.format_help().rstrip()}\n```\n"]
        parts.extend(_sections(parser, "grukit", 2))
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, **kwargs) -> str:
    if page.file.src_uri != "cli.md":
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/cli.md lost its marker {MARKER!r}; put it back where the "
                         f"generated reference goes.")
    return markdown.replace(MARKER, cli_markdown())
