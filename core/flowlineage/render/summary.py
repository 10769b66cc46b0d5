"""Readable summaries of records (``describe()``), printed with rich.

As in lamindb, ``describe()`` prints and returns None (so a REPL shows it once);
``describe(print_=False)`` returns the text instead.
"""

from __future__ import annotations


def emit(text: str, print_: bool) -> str | None:
    """Print a description (plain, no markup) and return None, or return it unprinted."""
    if not print_:
        return text
    from rich.console import Console

    Console().print(text, markup=False, highlight=False, soft_wrap=True)
    return None
