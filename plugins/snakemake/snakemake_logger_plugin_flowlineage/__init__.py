"""Snakemake logger plugin ``flowlineage``: ``snakemake --logger flowlineage ...``.

The classes Snakemake's plugin interface requires; the work is done by
``flowlineage_snakemake.recorder``. Settings become ``--logger-flowlineage-<name>`` options.

No ``from __future__ import annotations`` here: Snakemake reads the settings' field types at
run time, and wants ``Optional[str]`` (not ``str | None``) to build the CLI options.
"""

import logging
from dataclasses import dataclass, field
from logging import LogRecord
from typing import Optional

from flowlineage_snakemake.collector import Collector, current_run_uid
from flowlineage_snakemake.introspect import JobAnnotator
from flowlineage_snakemake.options import REGISTER_MODES, Options
from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase

SNAKEMAKE_LOGGER = "snakemake.logging"  # the logger Snakemake's events are logged on


@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    """Settings of the flowlineage logger."""

    db: Optional[str] = field(default=None, metadata={  # noqa: UP045
        "help": "Database URL of the flowlineage instance (default: FLOWLINEAGE_DB, else "
                "SQLite under FLOWLINEAGE_HOME).",
        "env_var": True,
    })
    storage: Optional[str] = field(default=None, metadata={  # noqa: UP045
        "help": "Default storage root (default: FLOWLINEAGE_STORAGE, else a folder under "
                "FLOWLINEAGE_HOME).",
        "env_var": True,
    })
    register: str = field(default="in-place", metadata={
        "help": "in-place: register the working directory as a storage root so files in it "
                "are recorded where they are (key = relative path); copy: copy them into "
                "the default storage.",
        "choices": list(REGISTER_MODES),
    })
    no_hash_inputs: bool = field(default=False, metadata={
        "help": "Do not hash input files the run did not produce; link them only to an "
                "artifact already recorded under the same key and size.",
    })


class LogHandler(LogHandlerBase):
    """Records lineage of the workflow from Snakemake's log events."""

    def __post_init__(self) -> None:
        settings = self.settings if isinstance(self.settings, LogHandlerSettings) else (
            LogHandlerSettings())
        self.collector = Collector(
            Options(db=settings.db, storage=settings.storage, register=settings.register,
                    hash_inputs=not settings.no_hash_inputs),
            dryrun=bool(self.common_settings.dryrun),
            parent_uid=current_run_uid(),  # captured here: emit() runs on another thread
        )
        self.annotator = JobAnnotator()
        logging.getLogger(SNAKEMAKE_LOGGER).addFilter(self.annotator)

    def emit(self, record: LogRecord) -> None:
        """Hand one record to the collector."""
        self.collector.handle(record)

    def close(self) -> None:
        """Snakemake is done: let the writer end the run and wait for it."""
        logging.getLogger(SNAKEMAKE_LOGGER).removeFilter(self.annotator)
        self.collector.close()
        super().close()

    @property
    def writes_to_stream(self) -> bool:
        """This handler prints nothing."""
        return False

    @property
    def writes_to_file(self) -> bool:
        """This handler writes no log file."""
        return False

    @property
    def has_filter(self) -> bool:
        """Own (empty) filter: it must see every event, whatever ``--quiet`` hides."""
        return True

    @property
    def has_formatter(self) -> bool:
        """No text formatting is needed."""
        return True

    @property
    def needs_rulegraph(self) -> bool:
        """The rule graph is not used."""
        return False
