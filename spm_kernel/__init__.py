"""spm_kernel: the core of the Sales Performance Management workbench.

>>> import spm_kernel
>>> ws = spm_kernel.open("my-workspace")          # doctest: +SKIP
>>> ws.load("payees", "payees.csv")               # doctest: +SKIP
>>> ws.table("payees")                            # doctest: +SKIP
"""

from spm_kernel.config import WorkspaceConfig
from spm_kernel.errors import FileReadError, ImportValidationError, PluginError, SPMError
from spm_kernel.extensions import DataSource, Forecaster, Metric, PlanType
from spm_kernel.hookspecs import hookimpl
from spm_kernel.ingest.loader import LoadResult
from spm_kernel.workspace import Workspace, open_workspace

__version__ = "0.1.0"

open = open_workspace  # noqa: A001 - spm_kernel.open(path) is the public entry point

__all__ = [
    "DataSource", "FileReadError", "Forecaster", "ImportValidationError", "LoadResult", "Metric",
    "PlanType", "PluginError", "SPMError", "Workspace", "WorkspaceConfig", "__version__",
    "hookimpl", "open",
]
