"""A workspace's settings, kept in ``workspace.yaml`` beside its database."""

from __future__ import annotations

from decimal import ROUND_HALF_UP
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spm_kernel.errors import SPMError

CONFIG_FILE = "workspace.yaml"

RoundingMode = Literal[
    "ROUND_HALF_UP", "ROUND_HALF_EVEN", "ROUND_HALF_DOWN", "ROUND_UP", "ROUND_DOWN",
    "ROUND_CEILING", "ROUND_FLOOR",
]


class WorkspaceConfig(BaseModel):
    """Settings of one workspace (a company)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("My company", description="shown in apps and reports")
    base_currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description="reporting currency")
    fiscal_year_start_month: int = Field(1, ge=1, le=12, description="1 = January")
    rounding: RoundingMode = Field(ROUND_HALF_UP, description="default rounding of payout lines")
    executor: Literal["local", "dask"] = Field(
        "local", description="where calculations and metrics run: 'local' or 'dask' (docs/scale.md)")
    dask_address: str | None = Field(None, description="Dask scheduler address for executor 'dask', e.g. "
                                     "tcp://10.0.0.5:8786 (default: $SPM_DASK_ADDRESS, else the current client)")
    parquet_inputs: dict[Literal["transactions"], str] = Field(
        default_factory=dict, description="inputs read from Parquet at run time instead of the database: "
        "table -> path or glob, local or any fsspec URL (s3://, gs://, abfs://)")
    parquet_storage_options: dict[str, str] = Field(
        default_factory=dict, description="fsspec storage options for parquet_inputs (credentials come "
        "from the environment when omitted)")


def read_config(folder: Path) -> WorkspaceConfig:
    path = folder / CONFIG_FILE
    if not path.exists():
        return WorkspaceConfig()
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
        return WorkspaceConfig.model_validate(data)
    except yaml.YAMLError as exc:
        raise SPMError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise SPMError(f"{path}: {problems}") from None


def write_config(folder: Path, config: WorkspaceConfig) -> None:
    (folder / CONFIG_FILE).write_text(yaml.safe_dump(config.model_dump(), sort_keys=False), "utf-8")
