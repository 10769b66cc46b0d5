"""Redacting secrets before they are stored: command lines, params, shell commands.

A name is secret-like when it contains one of ``SECRET_WORDS`` (case-insensitive, ``-``
and ``_`` ignored); ``FLOWLINEAGE_SECRET_WORDS`` (comma-separated) adds more. Redacted are
the values of such options (``--token=x``, ``--token x``) and params (nested dicts, one
level of lists), ``Authorization: Bearer|Basic …`` headers and URL passwords
(``scheme://user:pass@host``).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from typing import Any

REDACTED = "***"
SECRET_WORDS = ("password", "passwd", "secret", "token", "apikey", "accesskey", "privatekey",
                "credential", "auth")

_AUTH_HEADER = re.compile(r"(?i)(authorization\s*:\s*(?:bearer|basic|token)?\s*)[^\s'\"]+")
_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@")


def _words() -> tuple[str, ...]:
    extra = os.environ.get("FLOWLINEAGE_SECRET_WORDS", "")
    return SECRET_WORDS + tuple(w.strip().lower().replace("-", "").replace("_", "")
                                for w in extra.split(",") if w.strip())


def is_secret_name(name: str) -> bool:
    """Whether an option or param name looks like it holds a secret."""
    flat = name.lower().replace("-", "").replace("_", "")
    return any(word in flat for word in _words())


def redact_text(text: str) -> str:
    """``text`` with authorization headers and URL passwords redacted."""
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, text)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + "@", text)


def redact_args(args: Sequence[str]) -> list[str]:
    """Command-line arguments with the values of secret-like options redacted."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        name, eq, value = arg.partition("=")
        if arg.startswith("-") and is_secret_name(name.lstrip("-")):
            if eq:
                out.append(f"{name}={REDACTED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        if eq and not arg.startswith("-") and is_secret_name(name):  # key=value (--config)
            out.append(f"{name}={REDACTED}")
            continue
        out.append(redact_text(arg))
    return out


def redact_command(command: str) -> str:
    """A shell command line with secret-like option values and headers redacted."""
    try:
        return shlex.join(redact_args(shlex.split(command)))
    except ValueError:  # unbalanced quotes: redact what can be found in the text
        return redact_text(command)


def redact_params(params: Any) -> Any:
    """Params (a dict) with values under secret-like names redacted, nested dicts
    followed and one level of lists."""
    if not isinstance(params, dict):
        return params
    return {k: REDACTED if is_secret_name(str(k)) else _value(v) for k, v in params.items()}


def _value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, dict):
        return redact_params(value)
    if isinstance(value, list) and depth == 0:
        return [_value(v, 1) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
