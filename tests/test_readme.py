"""The README's Python blocks run verbatim in an empty folder, and print what it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```$", README.read_text(encoding="utf-8"), re.M | re.S)
PYTHON = [(i, body) for i, (lang, body) in enumerate(BLOCKS) if lang == "python"]


def _shape(text: str) -> str:
    """The output without what differs from run to run: ``[size · uid]`` brackets."""
    return re.sub(r"\[[^\]\n]*\]", "[…]", text).strip()


def test_readme_has_a_quickstart() -> None:
    assert any("fl.track(" in body and "view_lineage(" in body for _, body in PYTHON)


@pytest.mark.parametrize(("index", "code"), PYTHON, ids=[f"block{i}" for i, _ in PYTHON])
def test_python_block_runs(index: int, code: str, tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "quickstart.py").write_text(code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("FLOWLINEAGE_DB", "FLOWLINEAGE_STORAGE", "FLOWLINEAGE_PARENT_RUN",
                        "FLOWLINEAGE_RUN")}
    env |= {"FLOWLINEAGE_HOME": str(tmp_path / "flhome"),
            "PREFECT_HOME": str(tmp_path / "prefect")}
    done = subprocess.run([sys.executable, "quickstart.py"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    if "view_lineage(" not in code:
        return
    out = done.stdout
    # a real edge: clean <- created by the run <- input raw
    assert "artifact clean/counts.parquet" in out
    assert "created by: run quickstart.py" in out
    assert "input: artifact raw/counts.csv" in out
    assert "2 edge(s)" in out
    following = BLOCKS[index + 1] if index + 1 < len(BLOCKS) else ("", "")
    assert following[0] == "text", "the quickstart is followed by the output it prints"
    assert _shape(out) == _shape(following[1])
