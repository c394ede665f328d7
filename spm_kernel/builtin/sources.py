"""Registers the built-in data sources: a folder of files and any SQLAlchemy database."""

from __future__ import annotations

from spm_kernel.extensions import DataSource
from spm_kernel.hookspecs import hookimpl


@hookimpl(trylast=True)
def spm_register_data_sources() -> list[DataSource]:
    from spm_kernel.builtin.sources_files import FileFolderSource
    from spm_kernel.builtin.sources_sql import SQLSource

    return [FileFolderSource(), SQLSource()]
