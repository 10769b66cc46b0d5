"""Prefect assets (``@materialize``, ``asset_deps``) as run features, and as artifacts
where an asset key names a file (``file://``) or an object (``s3://``) we can hash."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from flowlineage import Artifact
from flowlineage.adapters import key_for_path, link_inputs, set_run_features
from prefect.context import AssetContext

if TYPE_CHECKING:
    from flowlineage import Run

log = logging.getLogger(__name__)
HASHABLE = ("file", "s3")


def record_assets(run: Run, task_run_id: str | None, workdir: str) -> None:
    """Record the assets the task run ``run`` materialized (features ``assets``, outputs)
    and depended on (``asset_deps``, inputs); call it inside the task run."""
    ctx = AssetContext.get()
    if ctx is None or str(ctx.task_run_id) != task_run_id:
        return
    made = sorted(a.key for a in ctx.downstream_assets)
    used = sorted(a.key for a in ctx.direct_asset_dependencies | ctx.upstream_assets)
    if not made and not used:
        return
    features = {name: keys for name, keys in (("assets", made), ("asset_deps", used)) if keys}
    set_run_features({run.id: features})
    inputs = [_artifact(key, workdir, None) for key in used]
    link_inputs(run, [a for a in inputs if a is not None])
    for key in made:
        _artifact(key, workdir, run)


def _artifact(asset_key: str, workdir: str, writer: Run | None) -> Artifact | None:
    """The saved artifact of a file or object asset (written by ``writer``), if hashable."""
    url = urlparse(asset_key)
    if url.scheme not in HASHABLE:
        return None
    run: Run | bool = writer if writer is not None else False
    try:
        if url.scheme == "file":
            path = Path(unquote(url.path))
            if not path.exists():
                return None
            return Artifact(path, key=key_for_path(path, workdir), run=run).save()
        return Artifact(asset_key, run=run).save()
    except Exception as exc:  # an unreachable bucket must not fail the task run
        log.warning("flowlineage: asset %s not recorded as an artifact: %s", asset_key, exc)
        return None
