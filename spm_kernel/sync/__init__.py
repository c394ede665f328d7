"""Syncing canonical tables from data sources: files, SQL databases, CRMs.

A :class:`~spm_kernel.extensions.DataSource` reads (``fetch``); :func:`run_sync` writes, in
one transaction, with quarantine for rejected records and a ``sync_log`` row per sync.
"""

from spm_kernel.sync.batch import Batch, SourceError, SyncContext, SyncResult, TableCounts, iso_utc, newest, parse_time
from spm_kernel.sync.engine import last_watermark, list_rejects, run_sync, sync_history
from spm_kernel.sync.mapping import TableMapping, apply_mapping, flatten, record_columns
from spm_kernel.sync.retry import RetryPolicy, with_retries
from spm_kernel.sync.settings import configured_source, read_sources, source_from_settings

__all__ = [
    "Batch", "RetryPolicy", "SourceError", "SyncContext", "SyncResult", "TableCounts", "TableMapping",
    "apply_mapping", "configured_source", "flatten", "iso_utc", "last_watermark", "list_rejects",
    "newest", "parse_time", "read_sources", "record_columns", "run_sync", "source_from_settings", "sync_history",
    "with_retries",
]
