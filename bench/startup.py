"""Start-up figures: ``import flowlineage; fl.connect(); fl.Run.filter().count()`` on an
existing SQLite store over a bare interpreter, and whole ``flowlineage`` CLI processes.

Each figure is the median of fresh processes (wall time); the floor is the bare interpreter
(``python -c pass``). Run: python bench/startup.py [--quick] [--json]
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


def process_time(argv: list[str], env: dict[str, str], repeat: int) -> float:
    """Median wall time (ms) of running ``argv`` to its end."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


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
        bare = process_time([sys.executable, "-c", "pass"], env, repeat)
        connect = process_time([sys.executable, "-c", CONNECT], env, repeat) - bare
        orm = process_time([sys.executable, "-c", ORM], env, repeat) - bare
        figures = [
            Figure("import + connect() + Run count, over a bare interpreter", connect, 150,
                   "ms", note=f"floor: importing SQLAlchemy's ORM and SQLite dialect takes "
                   f"{orm:.0f} ms; bare interpreter {bare:.0f} ms"),
        ]
        if cli is not None:
            for command, target in ((["--help"], 300), (["runs", "list"], 300)):
                figures.append(Figure(f"flowlineage {' '.join(command)} (whole process)",
                                      process_time([cli, *command], env, repeat), target, "ms",
                                      note="20 runs" if command[0] == "runs" else ""))
    report("start-up", figures, args.json)


if __name__ == "__main__":
    main()
