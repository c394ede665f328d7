"""The named extensions a workspace's plugins register: data sources, plan types, metrics,
forecasters. Built once per workspace, on first use."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Generic, TypeVar

from spm_kernel.extensions import DataSource, Extension, Forecaster, Metric, PlanType
from spm_kernel.plugins import PluginLoadWarning, SPMPluginManager, collect_registrations

E = TypeVar("E", bound=Extension)


@dataclass(frozen=True)
class Registered(Generic[E]):
    extension: E
    plugin: str


class Catalogue(Generic[E]):
    """Extensions of one kind by name, with the plugin that provided each."""

    def __init__(self, kind: str, entries: dict[str, Registered[E]]) -> None:
        self.kind = kind
        self._entries = entries

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __getitem__(self, name: str) -> E:
        try:
            return self._entries[name].extension
        except KeyError:
            raise KeyError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self.names()) or 'none'}"
            ) from None

    def provider(self, name: str) -> str:
        """The name of the plugin that registered ``name``."""
        self[name]
        return self._entries[name].plugin


def _catalogue(manager: SPMPluginManager, hook: str, kind: str, base: type[E]) -> Catalogue[E]:
    entries: dict[str, Registered[E]] = {}
    for plugin, item in collect_registrations(manager, hook):
        if not isinstance(item, base) or not getattr(item, "name", ""):
            warnings.warn(
                f"spm plugin {plugin!r} registered {item!r} through {hook}, which is not a "
                f"named {base.__name__}; it is ignored",
                PluginLoadWarning,
                stacklevel=3,
            )
            continue
        entries.setdefault(item.name, Registered(item, plugin))  # first caller wins
    return Catalogue(kind, entries)


class Registry:
    """Lazily collected catalogues of a plugin manager's extensions."""

    def __init__(self, manager: SPMPluginManager) -> None:
        self._manager = manager

    @cached_property
    def data_sources(self) -> Catalogue[DataSource]:
        return _catalogue(self._manager, "spm_register_data_sources", "data source", DataSource)

    @cached_property
    def plan_types(self) -> Catalogue[PlanType]:
        return _catalogue(self._manager, "spm_register_plan_types", "plan type", PlanType)

    @cached_property
    def metrics(self) -> Catalogue[Metric]:
        return _catalogue(self._manager, "spm_register_metrics", "metric", Metric)

    @cached_property
    def forecasters(self) -> Catalogue[Forecaster]:
        return _catalogue(self._manager, "spm_register_forecasters", "forecaster", Forecaster)

    def refresh(self) -> None:
        """Forget collected catalogues (after registering a plugin at run time)."""
        for name in ("data_sources", "plan_types", "metrics", "forecasters"):
            self.__dict__.pop(name, None)
