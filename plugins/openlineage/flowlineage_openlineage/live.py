"""The live emitter of the current configuration, built once per configuration.

Cheap to import: OpenLineage's client is imported only when a target is configured.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from flowlineage.errors import ConfigurationError

from .config import target

if TYPE_CHECKING:
    from .emit import LiveEmitter

logger = logging.getLogger("flowlineage.openlineage")

_lock = threading.Lock()
_cache: dict[tuple[str | None, ...], LiveEmitter | None] = {}


def emitter() -> LiveEmitter | None:
    """The live emitter for the current environment (built once per configuration)."""
    key = target()
    if key is None:
        return None
    try:
        return _cache[key]
    except KeyError:
        pass
    with _lock:
        if key not in _cache:
            from .emit import LiveEmitter

            try:
                _cache[key] = LiveEmitter(str(key[0]))
            except ConfigurationError as e:
                logger.warning("OpenLineage events are off: %s", e)
                _cache[key] = None
        return _cache[key]


def reset() -> None:
    """Forget built emitters (closing their transports)."""
    with _lock:
        for built in _cache.values():
            if built is not None:
                built.close()
        _cache.clear()
