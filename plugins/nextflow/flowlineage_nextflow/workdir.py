"""Read Nextflow task work directories: the files a task wrote and the inputs staged for it.

Nextflow runs each task in ``<work>/<hash[:2]>/<hash[2:]>`` (the trace's ``hash`` column is the
first 8 hex digits: ``ab/123456``). Inputs are staged as symbolic links, to another task's work
directory (its output) or to a file outside the work tree; everything else the task leaves in
its directory, except Nextflow's own ``.command.*`` and ``.exitcode`` files, is an output.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass, field

from flowlineage.errors import ValidationError

logger = logging.getLogger("flowlineage.nextflow")

_HELPER_PREFIX = ".command."
_HELPER_FILES = frozenset({".exitcode"})


@dataclass
class TaskDir:
    """The outputs (regular files) and resolved inputs of one task work directory."""

    path: str
    outputs: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)


class WorkTree:
    """A Nextflow work directory; finds task directories by hash prefix."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        from flowlineage.adapters import require_regular

        self.root = os.path.realpath(root)
        if os.path.exists(self.root):
            require_regular(self.root)  # a FIFO or device is no work directory
        self._listings: dict[str, list[str]] = {}

    def contains(self, path: str) -> bool:
        """Whether a (resolved) path lies inside this work tree."""
        return path.startswith(self.root + os.sep)

    def find(self, task_hash: str) -> str | None:
        """The directory of the task whose hash (``ab/123456``) prefixes its name, if any."""
        prefix, _, rest = task_hash.partition("/")
        if not rest:
            return None
        names = self._listings.get(prefix)
        if names is None:
            try:
                names = sorted(os.listdir(os.path.join(self.root, prefix)))
            except OSError:
                names = []
            self._listings[prefix] = names
        found = [n for n in names if n.startswith(rest)]
        if len(found) > 1:
            logger.warning("task hash %s matches %d work directories; ignoring them",
                           task_hash, len(found))
        return os.path.join(self.root, prefix, found[0]) if len(found) == 1 else None

    def scan(self, directory: str) -> TaskDir:
        """List a task directory's outputs and the real files its input links point to.

        A FIFO, device or socket among them raises ``SpecialFile``; a symlink loop under a
        staged input folder raises ``ValidationError`` (both name the path).
        """
        from flowlineage.adapters import require_regular

        task = TaskDir(directory)
        for here, dirs, files in os.walk(directory):
            top = here == directory
            for name in [*dirs, *files]:
                path = os.path.join(here, name)
                if top and (name.startswith(_HELPER_PREFIX) or name in _HELPER_FILES):
                    continue
                if os.path.islink(path):
                    task.inputs.extend(_files_at(path))
                elif name in files:
                    try:
                        st = os.stat(path)
                    except FileNotFoundError:
                        continue  # removed since listed
                    require_regular(path, st)
                    task.outputs.append(path)
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(here, d))]
        return task


def _files_at(link: str) -> list[str]:
    """The regular files an input link stages: its target, or every file under a folder
    (walked with loop detection); none for a dangling link."""
    from flowlineage.adapters import require_regular, walk_files

    target = os.path.realpath(link)
    try:
        st = os.stat(link)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValidationError(f"symlink loop: {link} leads back to itself") from None
        return []  # dangling: the upstream file is gone
    if stat.S_ISDIR(st.st_mode):
        return [str(p) for p in walk_files(target)]
    require_regular(link, st)
    return [target]
