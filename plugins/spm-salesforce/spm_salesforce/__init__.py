"""spm-salesforce: the ``salesforce`` data source for spm_kernel (see README.md)."""

from __future__ import annotations

from spm_kernel import hookimpl
from spm_kernel.extensions import DataSource

from spm_salesforce.source import SalesforceConfig, SalesforceSource
from spm_salesforce.durations import stage_durations

__version__ = "0.1.0"
__all__ = ["SalesforceConfig", "SalesforceSource", "stage_durations"]


@hookimpl
def spm_register_data_sources() -> list[DataSource]:
    return [SalesforceSource()]
