"""One pluggy plugin manager per workspace: built-ins, entry points, the disable list.

Built-in behaviour is registered through the same hooks as third-party plugins, from the
modules in ``DEFAULT_PLUGINS``. Plugins installed as distributions are found through the
entry-point group ``spm_kernel``. ``SPM_DISABLE_PLUGINS=a,b`` (or ``disable=``) blocks
plugins by name, built-ins included.

Failure modes, all tested:

* a plugin that fails to import or register: a :class:`PluginLoadWarning` naming it and its
  error; everything else keeps working; the failure is listed by ``spm plugins``;
* a hook implementation whose name matches no hookspec (a typo): for a plugin registered in
  code, :class:`~spm_kernel.errors.PluginError` with a suggestion; for an entry-point
  plugin, a warning and the plugin is unregistered;
* a ``spm_register_*`` hook that raises: a warning naming the plugin; others still register.
"""

from __future__ import annotations

import difflib
import importlib
import os
import warnings
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from spm_kernel import hookspecs
from spm_kernel.errors import PluginError

ENTRY_POINT_GROUP = "spm_kernel"
DISABLE_ENV = "SPM_DISABLE_PLUGINS"

DEFAULT_PLUGINS: tuple[str, ...] = (
    "spm_kernel.builtin.file_readers",
    "spm_kernel.builtin.commands",
    "spm_kernel.plantypes.rate_table",
    "spm_kernel.plantypes.bonuses",
    "spm_kernel.plantypes.pay",
    "spm_kernel.engine.commands",
    "spm_kernel.builtin.sources",
    "spm_kernel.sync.cli",
    "spm_kernel.demo.commands",
    "spm_kernel.planning.commands",
    "spm_kernel.reports.statements_cli",
    # built-in metrics (issue 4): one plugin module per concept
    "spm_kernel.metrics.builtin.attainment",
    "spm_kernel.metrics.builtin.closing_time",
    "spm_kernel.metrics.builtin.win_rate",
    "spm_kernel.metrics.builtin.deal_size",
    "spm_kernel.metrics.builtin.pipeline",
    "spm_kernel.metrics.builtin.acquisition_cost",
    "spm_kernel.metrics.builtin.retention",
    "spm_kernel.metrics.builtin.compensation_cost",
    "spm_kernel.metrics.builtin.pay_for_performance",
    "spm_kernel.metrics.builtin.ramp",
    "spm_kernel.reports.performance_cli",
    "spm_kernel.auth.commands",  # spm users, spm audit (issue 9)
    "spm_kernel.training.commands",  # spm training (issue 10)
)


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded or registered; the rest of the workbench still works."""


@dataclass(frozen=True)
class PluginFailure:
    name: str
    distribution: str
    error: str


@dataclass
class SPMPluginManager:
    """A pluggy manager plus what spm needs to report on it."""

    pm: pluggy.PluginManager
    disabled: frozenset[str] = frozenset()
    failures: list[PluginFailure] = field(default_factory=list)
    distributions: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object or module; a misspelt hook raises PluginError."""
        name = name or _plugin_name(plugin)
        if name in self.disabled:
            self.pm.set_blocked(name)
            return name
        registered = self.pm.register(plugin, name=name)
        if registered is None:
            return name
        try:
            check_hook_names(self.pm, plugin, name)
        except PluginError:
            self.pm.unregister(plugin)
            raise
        return name

    def unregister(self, name: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)

    def plugin_names(self) -> list[str]:
        return [name for name, _ in self.pm.list_name_plugin() if name is not None]

    def describe(self) -> list[dict[str, Any]]:
        """One row per plugin: name, distribution, version, hooks implemented, status
        (``active``, ``disabled``, ``failed: ...`` when it could not be loaded, or
        ``error: ...`` when it loaded but one of its hooks raised)."""
        errors: dict[str, list[str]] = {}
        for failure in self.failures:
            errors.setdefault(failure.name, []).append(failure.error)
        rows = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = sorted(impl_name for impl_name in dir(plugin)
                           if impl_name.startswith("spm_")
                           and hasattr(getattr(plugin, impl_name), f"{hookspecs.PROJECT_NAME}_impl"))
            dist, version = self.distributions.get(name, ("spm-kernel (built-in)", _kernel_version()))
            status = "error: " + "; ".join(errors.pop(name)) if name in errors else "active"
            rows.append({"name": name, "distribution": dist, "version": version,
                         "hooks": hooks, "status": status})
        for name in sorted(self.disabled):
            dist, version = self.distributions.get(name, ("", ""))
            rows.append({"name": name, "distribution": dist, "version": version, "hooks": [],
                         "status": "disabled"})
        for name, messages in errors.items():
            dist, version = self.distributions.get(name, ("", ""))
            rows.append({"name": name, "distribution": dist, "version": version, "hooks": [],
                         "status": "failed: " + "; ".join(messages)})
        return rows


def _kernel_version() -> str:
    from spm_kernel import __version__
    return __version__


def _plugin_name(plugin: object) -> str:
    return getattr(plugin, "__name__", None) or type(plugin).__name__


def check_hook_names(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    """Raise PluginError if ``plugin`` implements a hook no hookspec defines (a typo)."""
    known = set(hookspecs.all_hookspec_names())
    for attr in dir(plugin):
        if not attr.startswith("spm_"):
            continue
        if hasattr(getattr(plugin, attr, None), f"{hookspecs.PROJECT_NAME}_impl") and attr not in known:
            close = difflib.get_close_matches(attr, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise PluginError(f"plugin {name!r} implements unknown hook {attr!r}{hint}")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r}: {exc}") from exc


def disabled_from_env(extra: tuple[str, ...] | list[str] | None = None) -> frozenset[str]:
    names = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    names.update(extra or ())
    return frozenset(names)


def _entry_point_dist(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ("unknown", "")
    return (dist.metadata["Name"], dist.version)


def make_plugin_manager(
    disable: tuple[str, ...] | list[str] | None = None,
    plugins: list[object] | None = None,
    load_entry_points: bool = True,
) -> SPMPluginManager:
    """A fresh plugin manager: hookspecs, built-ins, entry points, then ``plugins``."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    manager = SPMPluginManager(pm=pm, disabled=disabled_from_env(disable))
    for module_name in DEFAULT_PLUGINS:
        manager.register(importlib.import_module(module_name), name=module_name)
    if load_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            _load_entry_point(manager, ep)
    for plugin in plugins or ():
        manager.register(plugin)
    return manager


def _load_entry_point(manager: SPMPluginManager, ep: EntryPoint) -> None:
    dist = _entry_point_dist(ep)
    manager.distributions[ep.name] = dist
    if ep.name in manager.disabled:
        manager.pm.set_blocked(ep.name)
        return
    if manager.pm.get_plugin(ep.name) is not None:
        return
    try:
        plugin = ep.load()
        manager.register(plugin, name=ep.name)
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the workbench
        message = f"{type(exc).__name__}: {exc}"
        manager.failures.append(PluginFailure(ep.name, dist[0], message))
        if manager.pm.get_plugin(ep.name) is not None:
            manager.unregister(ep.name)
        warnings.warn(
            f"spm plugin {ep.name!r} (distribution {dist[0]} {dist[1]}) could not be loaded and "
            f"is disabled: {message}",
            PluginLoadWarning,
            stacklevel=3,
        )


def collect_registrations(manager: SPMPluginManager, hook_name: str) -> list[tuple[str, Any]]:
    """Call a ``spm_register_*`` hook plugin by plugin; return (plugin name, item) pairs in
    call order (third-party first, ``trylast`` built-ins last). A plugin whose hook raises or
    returns something other than a list is reported in a warning and skipped."""
    caller = getattr(manager.pm.hook, hook_name)
    out: list[tuple[str, Any]] = []
    for impl in reversed(caller.get_hookimpls()):  # pluggy calls the last-registered first
        try:
            result = impl.function()
            if result is None:
                continue
            if not isinstance(result, (list, tuple)):
                raise TypeError(f"{hook_name} must return a list, got {type(result).__name__}")
        except Exception as exc:  # noqa: BLE001 - report, keep the others working
            manager.failures.append(PluginFailure(impl.plugin_name, "", f"{hook_name}: {exc}"))
            warnings.warn(
                f"spm plugin {impl.plugin_name!r} failed in {hook_name} and its registrations "
                f"are skipped: {type(exc).__name__}: {exc}",
                PluginLoadWarning,
                stacklevel=2,
            )
            continue
        out.extend((impl.plugin_name, item) for item in result)
    return out
