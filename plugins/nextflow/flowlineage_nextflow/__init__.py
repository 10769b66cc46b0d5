"""flowlineage's Nextflow adapter: trace files, lineage stores, weblog events, nextflowpy runs.

Python entry points: :func:`flowlineage_nextflow.run` (a pipeline run through nextflowpy),
``flowlineage_nextflow.ingest_trace.ingest_trace`` and
``flowlineage_nextflow.ingest_lineage.ingest_lineage``; the CLI adds ``flowlineage nextflow
ingest-trace|ingest-lineage|serve``. Importing this package loads neither nextflowpy nor the
web server.
"""

from .mapping import IngestResult
from .run import PipelineRun, run

__all__ = ["IngestResult", "PipelineRun", "run"]
