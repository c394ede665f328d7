"""Fitted models cached in the workspace folder, keyed by model, version, config and data.

A fit is reused only when the model version, its config hash (every option that changes
results) and the hash of the training data are all the same, so new data, a new config or
a new model version always refit. Files live in ``<workspace>/.cache/forecasts/`` and can be
deleted at any time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from spm_forecast_pymc.builder import ModelBuilder

M = TypeVar("M", bound=ModelBuilder[Any])

CACHE_DIR = Path(".cache") / "forecasts"


def cache_folder(workspace_path: Path) -> Path:
    return Path(workspace_path) / CACHE_DIR


def cache_path(folder: Path, model: ModelBuilder[Any], data_hash: str) -> Path:
    return Path(folder) / (f"{model.name}-v{model.version}-{model.config_hash[:12]}-"
                           f"{data_hash[:16]}.nc")


def fit_cached(model: M, data: Any, folder: Path | None) -> tuple[M, bool]:
    """``model`` fitted to ``data``, loaded from ``folder`` when an identical fit was saved
    there (returns ``(model, True)``), else fitted and saved (``(model, False)``). With
    ``folder=None`` it always fits and saves nothing."""
    if folder is None:
        return model.fit(data), False
    path = cache_path(folder, model, model.hash_data(data))
    if path.is_file():
        loaded = type(model).load(path, config=model.config)
        return loaded, True
    model.fit(data)
    model.save(path)
    return model, False
