"""Readable summaries of records (``describe()``), printed with rich."""

from __future__ import annotations


def emit(lines: list[str], print_: bool) -> str:
    """Join description lines; print them (plain, no markup) when ``print_``."""
    text = "\n".join(lines)
    if print_:
        from rich.console import Console

        Console().print(text, markup=False, highlight=False)
    return text
