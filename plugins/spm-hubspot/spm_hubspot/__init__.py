"""spm-hubspot: the ``hubspot`` data source for spm_kernel (see README.md)."""

from __future__ import annotations

from spm_kernel import hookimpl
from spm_kernel.extensions import DataSource

from spm_hubspot.source import HubSpotConfig, HubSpotSource

__version__ = "0.1.0"
__all__ = ["HubSpotConfig", "HubSpotSource"]


@hookimpl
def spm_register_data_sources() -> list[DataSource]:
    return [HubSpotSource()]
