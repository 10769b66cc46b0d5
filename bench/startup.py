"""Start-up figures: ``import flowlineage; fl.connect(); fl.Run.filter().count()`` on an
existing SQLite store over a bare interpreter, and whole ``flowlineage`` CLI processes.

Each figure is the median of fresh processes (wall time), the commands run in turn so load
on a shared machine touches them alike. Beside each figure its floor, measured in the same
run: the bare interpreter (``python -c pass``) and importing the libraries the figure cannot
do without (SQLAlchemy's ORM and SQLite dialect; typer with its rich help; typer, rich's
tables and the ORM for ``runs list``). Run: python bench/startup.py [--quick]
[--json]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import Figure, parser, report  # noqa: E402

CONNECT = "import flowlineage as fl; fl.connect(); fl.Run.filter().count()"
ORM = "import sqlalchemy.orm, sqlalchemy.dialects.sqlite"
FLOORS = {  # name: statement
    "bare": "pass",
    "sqlalchemy": "import sqlalchemy",
    "orm": ORM,
    "help": "import typer, typer.rich_utils",
    "list": f"import typer, rich.table, {ORM.removeprefix('import ')}",
}


def process_times(commands: dict[str, list[str]], env: dict[str, str], repeat: int
                  ) -> dict[str, float]:
    """Median wall time (ms) of running each command to its end, the commands in turn."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, env=env, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    repeat = 5 if args.quick else 15
    cli = shutil.which("flowlineage", path=str(Path(sys.executable).parent))
    with tempfile.TemporaryDirectory(prefix="flstartup-") as home:
        env = {k: v for k, v in os.environ.items()  # bytecode cached, as in an install
               if k not in ("FLOWLINEAGE_DB", "FLOWLINEAGE_STORAGE", "PYTHONDONTWRITEBYTECODE")}
        env["FLOWLINEAGE_HOME"] = home
        subprocess.run([sys.executable, "-c", CONNECT + "\nfor i in range(20):\n"
                        "    fl.track(transform='startup', params={'i': i}); fl.finish()"],
                       env=env, check=True, capture_output=True)  # a small existing store
        commands = {name: [sys.executable, "-c", code] for name, code in FLOORS.items()}
        commands["connect"] = [sys.executable, "-c", CONNECT]
        if cli is not None:
            commands["--help"] = [cli, "--help"]
            commands["runs list"] = [cli, "runs", "list"]
        ms = process_times(commands, env, repeat)
        bare = ms["bare"]
        figures = [
            Figure("import + connect() + Run count, over a bare interpreter",
                   ms["connect"] - bare, 150, "ms",
                   note=f"floor: SQLAlchemy's ORM and SQLite dialect {ms['orm'] - bare:.0f} ms "
                   f"(import sqlalchemy alone {ms['sqlalchemy'] - bare:.0f} ms); bare "
                   f"interpreter {bare:.0f} ms"),
        ]
        if cli is not None:
            figures += [
                Figure("flowlineage --help (whole process)", ms["--help"], 300, "ms",
                       note=f"floor: typer with its rich help {ms['help']:.0f} ms"),
                Figure("flowlineage runs list (whole process)", ms["runs list"], 300, "ms",
                       note=f"20 runs; floor: typer, rich tables and SQLAlchemy's ORM "
                       f"{ms['list']:.0f} ms"),
            ]
    report("start-up", figures, args.json)


if __name__ == "__main__":
    main()
