"""Secrets kept out of what the Snakemake adapter stores.

The command line, the config, the jobs' params, their rendered shell commands and error
messages pass through the core's redaction (``flowlineage.adapters.redact_*``) before they
are recorded. Values the redaction hid in the config or params (``db_password=…``) are also
remembered and replaced wherever they appear later in a shell command or error message
(``mysql -p{params.password}``), when at least ``MIN_KNOWN_LENGTH`` characters long.
Snakefile sources lose ``Authorization:`` headers and URL passwords.
"""

from __future__ import annotations

import shlex
from typing import Any

HIDDEN = "***"
MIN_KNOWN_LENGTH = 4


class Redactor:
    """Redacts one invocation's texts, remembering the secret values it has seen."""

    def __init__(self) -> None:
        self.known: set[str] = set()

    def params(self, params: Any) -> Any:
        """Params or config with secret-like names' values hidden (and remembered)."""
        from flowlineage.adapters import redact_params

        redacted = redact_params(params)
        self._remember(params, redacted)
        return redacted

    def cli_args(self, args: Any) -> str | None:
        """The command line (a string or a list of arguments) as text, redacted."""
        from flowlineage.adapters import redact_args, redact_command

        if args is None:
            return None
        if isinstance(args, (list, tuple)):
            return self._scrub(shlex.join(redact_args([str(a) for a in args])))
        return self._scrub(redact_command(str(args)))

    def command(self, command: str | None) -> str | None:
        """A rendered shell command, redacted (its formatting kept unless it held secrets)."""
        if command is None:
            return None
        return self.text(str(command))

    def text(self, text: str | None) -> str | None:
        """Free text (an error message, a command): line by line, a line holding a secret
        option value is redacted as a command; headers, URL passwords and remembered
        values are hidden everywhere."""
        from flowlineage.adapters import redact_args, redact_text

        if text is None:
            return None
        lines = []
        for line in str(text).split("\n"):
            try:
                words = shlex.split(line)
            except ValueError:
                words = []
            redacted = redact_args(words)
            if redacted != [redact_text(w) for w in words]:  # a secret option's value
                indent = line[: len(line) - len(line.lstrip())]
                line = indent + shlex.join(redacted)
            lines.append(redact_text(line))
        return self._scrub("\n".join(lines))

    def _scrub(self, text: str) -> str:
        for value in sorted(self.known, key=len, reverse=True):
            text = text.replace(value, HIDDEN)
        return text

    def _remember(self, original: Any, redacted: Any) -> None:
        if isinstance(original, dict) and isinstance(redacted, dict):
            for key, value in original.items():
                self._remember(value, redacted.get(key))
        elif isinstance(original, (list, tuple)) and isinstance(redacted, list):
            for value, hidden in zip(original, redacted, strict=False):
                self._remember(value, hidden)
        elif redacted == HIDDEN and original != HIDDEN:
            for value in _leaves(original):
                if len(value) >= MIN_KNOWN_LENGTH:
                    self.known.add(value)


def _leaves(value: Any) -> list[str]:
    """The scalar values inside a hidden value, as text."""
    if isinstance(value, dict):
        return [v for item in value.values() for v in _leaves(item)]
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _leaves(item)]
    return [] if value is None or isinstance(value, bool) else [str(value)]
