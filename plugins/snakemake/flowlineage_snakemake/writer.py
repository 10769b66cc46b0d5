"""The writer process: ``python -m flowlineage_snakemake.writer [--register copy] [...]``.

Started by the logger plugin in the Snakemake process, it reads one JSON message per line
on stdin and records them (``flowlineage_snakemake.recorder``). It connects with the
environment's settings (``FLOWLINEAGE_DB`` / ``_STORAGE`` / ``_HOME``, set by the plugin).
Messages (``t`` is the type, times are epoch seconds):

- ``begin``: a run that executes jobs: ``workflow_id``, ``workdir``, ``snakefile``,
  ``cli_args``, ``user``, ``at``, ``parent`` (uid of the run that started Snakemake),
  ``config``.
- ``rule``: first sight of a rule: ``name``, ``file`` (where it is defined), ``temp``.
- ``job``: a job starts: ``id``, ``rule``, ``at``, ``in``/``out``/``log``/``bench``
  (absolute paths), ``params``, ``cmd``.
- ``done`` / ``failed``: a job ended: ``id``, ``at`` (``failed`` also ``rule``, ``cmd``).
- ``error``: an error message: ``text``, ``exception``. ``interrupted``: Ctrl-C / SIGTERM.
- ``end``: Snakemake closed its logger. End of input without it means Snakemake died: the
  run is recorded aborted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .options import REGISTER_MODES, Options
from .recorder import Recorder

NICENESS = 10


def main(argv: list[str] | None = None) -> None:
    """Record the messages read on stdin until it closes."""
    p = argparse.ArgumentParser(prog="python -m flowlineage_snakemake.writer",
                                description=__doc__)
    p.add_argument("--register", choices=REGISTER_MODES, default="in-place")
    p.add_argument("--no-hash-inputs", action="store_true")
    args = p.parse_args(argv)
    try:  # recording is background work: leave the CPU to Snakemake and its jobs first
        os.nice(NICENESS)
    except OSError:
        pass
    # load the database layer now, while Snakemake builds its DAG (connecting waits for a
    # run that executes jobs: a dry run must not even create the database)
    import flowlineage.adapters  # noqa: F401

    recorder = Recorder(Options(register=args.register, hash_inputs=not args.no_hash_inputs))
    for line in sys.stdin.buffer:
        try:
            message = json.loads(line)
        except ValueError:  # a line cut short by a dying Snakemake
            continue
        recorder.handle(message)
    recorder.close()


if __name__ == "__main__":
    main()
