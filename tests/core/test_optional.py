"""Lazy imports: ``require`` names the extra to install, ``load`` pauses the garbage
collector while it imports and leaves it as it found it."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest
from flowlineage.errors import MissingDependency
from flowlineage.optional import load, require


def test_require_names_the_extra() -> None:
    with pytest.raises(MissingDependency, match=r"flowlineage\[nope\]"):
        require("no_such_module_here", "nope")
    assert require("json", "unused").__name__ == "json"


def test_load_pauses_the_collector_and_restores_it() -> None:
    code = ("import gc, sys; from flowlineage.optional import load\n"
            "seen = []\n"
            "class Probe:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'flowlineage.db.tables': seen.append(gc.isenabled())\n"
            "sys.meta_path.insert(0, Probe())\n"
            "load('flowlineage.db.tables')\n"
            "assert seen == [False] and gc.isenabled(), (seen, gc.isenabled())")
    subprocess.run([sys.executable, "-c", code], check=True)
    gc.disable()
    try:
        assert load(".errors", "flowlineage").__name__ == "flowlineage.errors"
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
