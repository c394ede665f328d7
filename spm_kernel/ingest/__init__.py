"""Validated, all-or-nothing loading of rows into canonical tables."""

from spm_kernel.ingest.loader import LoadResult, load_table

__all__ = ["LoadResult", "load_table"]
