"""The model-builder base: config merged over defaults, fit, save/load (netCDF), data hash.

A fitted model *is* its ArviZ ``InferenceData``: the posterior, the sample stats, and a
``constant_data`` group holding everything prediction needs (series ids, groups, scales,
the last observed month). Its ``posterior.attrs`` carry the model name and version, the
config (JSON) and its hash, and the hash of the training data. ``load`` refuses a file made
by another model, another model version, or (when a config is given) another config.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

import arviz as az
import pandas as pd
from pydantic import BaseModel

from spm_forecast_pymc.config import config_hash, merge
from spm_forecast_pymc.diagnostics import DiagnosticsReport, check

C = TypeVar("C", bound=BaseModel)


class ModelMismatchError(ValueError):
    """A saved model does not match the model class, version or config it is loaded with."""


class NotFittedError(RuntimeError):
    """``predict`` or ``save`` was called before ``fit`` (or ``load``)."""


def data_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's values, column names and order (row order matters too, so sort
    before hashing when it should not)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([str(c) for c in frame.columns]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


class ModelBuilder(ABC, Generic[C]):
    """Shared behaviour of the Bayesian models; subclasses define the model itself.

    Subclasses set ``name``, ``version`` (bump it whenever the model's structure changes, so
    old saved files are refused) and ``config_class``, and implement ``_fit`` (history ->
    InferenceData with ``posterior``, ``sample_stats`` and ``constant_data``).
    """

    name: ClassVar[str]
    version: ClassVar[str]
    config_class: ClassVar[type[BaseModel]]

    def __init__(self, config: BaseModel | Mapping[str, Any] | None = None) -> None:
        self.config: C = merge(self.default_config(), config)  # type: ignore[assignment]
        self.idata: az.InferenceData | None = None
        self.diagnostics: DiagnosticsReport | None = None

    @classmethod
    def default_config(cls) -> C:
        """The documented defaults (see the config class's field descriptions)."""
        return cls.config_class()  # type: ignore[return-value]

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)

    @property
    def is_fitted(self) -> bool:
        return self.idata is not None

    @property
    def data_hash(self) -> str:
        return str(self._fitted().posterior.attrs["spm_data_hash"])

    def _fitted(self) -> az.InferenceData:
        if self.idata is None:
            raise NotFittedError(f"{self.name} is not fitted: call fit(...) or load(path) first")
        return self.idata

    # ---- fitting ----
    def fit(self, data: Any, progressbar: bool | None = None) -> Self:
        """Fit the model to ``data``, check convergence (warning with advice on problems) and
        return ``self``. ``progressbar`` overrides ``sampler.progressbar`` for this call."""
        if progressbar is not None:
            self.config = merge(self.config, {"sampler": {"progressbar": progressbar}})
        prepared_hash = self.hash_data(data)
        idata = self._fit(data)
        idata.posterior.attrs.update(self._attrs(prepared_hash))
        self.idata = idata
        self.diagnostics = check(idata, self.config.diagnostics, self.name)  # type: ignore[attr-defined]
        return self

    def hash_data(self, data: Any) -> str:
        """The hash that identifies ``data`` for caching (override for non-frame inputs)."""
        return data_hash(data)

    @abstractmethod
    def _fit(self, data: Any) -> az.InferenceData:
        """Build the PyMC model on ``data``, sample it, return the InferenceData."""

    def _attrs(self, hash_of_data: str) -> dict[str, str]:
        from spm_forecast_pymc import __version__
        return {
            "spm_model": self.name,
            "spm_model_version": self.version,
            "spm_plugin_version": __version__,
            "spm_config": self.config.model_dump_json(),
            "spm_config_hash": self.config_hash,
            "spm_data_hash": hash_of_data,
        }

    # ---- persistence ----
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to a netCDF file (atomically: a reader never sees half a
        file) and return its path."""
        idata = self._fitted()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".nc.tmp", dir=target.parent)
        os.close(fd)
        try:
            idata.to_netcdf(tmp, engine="h5netcdf")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | Path, config: BaseModel | Mapping[str, Any] | None = None) -> Self:
        """Read a model saved by :meth:`save`.

        Raises :class:`ModelMismatchError` when the file was written by another model, by
        another version of this model, or (when ``config`` is given) with a different config.
        Without ``config``, the saved config is used.
        """
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"no saved model at {source}")
        idata = az.from_netcdf(source, engine="h5netcdf")
        attrs = idata.posterior.attrs
        saved_name = attrs.get("spm_model")
        if saved_name != cls.name:
            raise ModelMismatchError(
                f"{source} holds a {saved_name or 'non-spm'} model, not {cls.name}; load it with "
                f"the matching class")
        saved_version = attrs.get("spm_model_version")
        if saved_version != cls.version:
            raise ModelMismatchError(
                f"{source} was fitted with {cls.name} model version {saved_version}; this is "
                f"version {cls.version}, whose parameters differ: refit the model")
        saved_config = cls.config_class.model_validate_json(attrs["spm_config"])
        model = cls(saved_config)
        if config is not None:
            wanted = cls(config)
            if wanted.config_hash != attrs.get("spm_config_hash"):
                raise ModelMismatchError(
                    f"{source} was fitted with a different config (hash "
                    f"{str(attrs.get('spm_config_hash'))[:12]}, yours {wanted.config_hash[:12]}); "
                    f"refit, or load without a config to use the saved one")
            model = wanted
        model.idata = idata
        model.diagnostics = check(idata, model.config.diagnostics, cls.name, warn=False)  # type: ignore[attr-defined]
        return model
