"""Every extension point of spm_kernel, in one place.

A plugin is any object or module with functions decorated ``@spm_kernel.hookimpl`` whose
names are the ones below; it is found through the entry-point group ``spm_kernel`` (or
registered directly with ``ws.plugins.register``). Hook arguments are passed by keyword: an
implementation may accept any subset of a spec's arguments.

Two kinds of hooks:

* **collected** hooks call every implementation and gather the results (a list per plugin).
  The ``spm_register_*`` hooks are collected by the workspace one plugin at a time: a plugin
  whose hook raises is reported in a warning naming it, and the others still register.
* **first-result** hooks stop at the first implementation that returns something other than
  ``None``. Built-in fallbacks are ``trylast``, so a third-party plugin is asked first.

The reference with signatures is docs/hooks.md; a meta-test keeps it and this file in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pluggy

if TYPE_CHECKING:
    import typer

    from spm_kernel.engine.runs import Run
    from spm_kernel.extensions import DataSource, Forecaster, Metric, PlanType
    from spm_kernel.ingest.loader import LoadResult
    from spm_kernel.workspace import Workspace

PROJECT_NAME = "spm_kernel"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def spm_register_data_sources() -> list[DataSource]:
    """Register data sources (file folders, SQL databases, CRMs).

    Called once per workspace, when its registry is first used. Collected: return a list of
    :class:`spm_kernel.extensions.DataSource` instances, one per *type* of source; the first
    plugin to register a name wins (built-ins ``files`` and ``sql`` are ``trylast``). A
    workspace configures named instances in ``sources.yaml`` (``type:`` is the registered
    ``name``) and ``spm sync NAME`` runs one. A source declares its ``tables`` and pydantic
    ``config_model`` (``SecretStr`` fields are credentials, never read from the workspace),
    implements ``check()`` (reachability and credentials, or ``SourceError``) and
    ``fetch(context)`` (yields :class:`spm_kernel.sync.Batch` objects, writes nothing); the
    provided ``sync(ws, since=None)`` writes them in one transaction (docs/integration.md).
    """


@hookspec
def spm_register_plan_types() -> list[PlanType]:
    """Register plan types, the building blocks of plan components.

    Called once per workspace, when its registry is first used. Collected: return a list of
    :class:`spm_kernel.extensions.PlanType` instances. A plan file names a plan type by its
    ``name``; an unknown name is an error listing the registered ones. A plan type declares a
    pydantic ``config_model`` (its options in a plan file, validated when the plan is loaded)
    and ``calculate(inp: CalcInput) -> DataFrame``: the payout lines of one period for every
    payee at once. The contract (input frames, output columns, signs, rounding) is in
    :mod:`spm_kernel.plantypes.contract`; docs/plans.md shows a plan type in under 50 lines
    (``plugins/spm-plan-margin``). The built-in plan types are ``trylast``: registering a
    built-in's name replaces it.
    """


@hookspec
def spm_register_metrics() -> list[Metric]:
    """Register KPIs.

    Called once per workspace, when its registry is first used. Collected: return a list of
    :class:`spm_kernel.extensions.Metric` instances, each with its unit, definition and
    formula (docs/metrics.md is rendered from them).
    """


@hookspec
def spm_register_forecasters() -> list[Forecaster]:
    """Register forecasters (e.g. the PyMC hierarchical bookings model of spm-forecast-pymc).

    Called once per workspace, when its registry is first used. Collected: return a list of
    :class:`spm_kernel.extensions.Forecaster` instances; ``ws.registry.forecasters[name]``
    finds one. A forecaster builds its history from the workspace (``history``), fits it
    (``fit``), returns joint posterior predictive samples as a tidy frame (``predict``: one
    row per series, month and sample) and per-payee samples over a future window
    (``payee_samples``), which quota planning and the compensation budget consume. Callers
    that need a forecast and find no forecaster registered fall back to their own rule and
    say so.
    """


@hookspec(firstresult=True)
def spm_read_table_file(path: Path) -> pd.DataFrame | None:
    """Read a file given to ``ws.load`` / ``spm import`` into a DataFrame of strings.

    Called by the importer for every file it is given. First result: return a DataFrame whose cells are strings (or missing), with the file's
    header as column names, or ``None`` if this plugin does not read files like ``path``.
    The built-in reader (``trylast``) handles ``.csv``, ``.parquet`` and ``.xlsx``/``.xls``.
    Raise :class:`spm_kernel.errors.FileReadError` for a file you recognise but cannot read.
    """


@hookspec
def spm_workspace_opened(ws: Workspace) -> None:
    """Called after a workspace is opened and migrated, before it is returned to the caller.

    Collected; return values are ignored. Use it to prepare caches or check configuration.
    An exception here propagates: opening the workspace fails with it.
    """


@hookspec
def spm_after_load(ws: Workspace, table: str, result: LoadResult) -> None:
    """Called after an import into ``table`` has been committed.

    Collected; return values are ignored. ``result`` says how many rows were inserted,
    updated and unchanged. Use it to invalidate caches of anything derived from ``table``.
    Not called when an import fails (nothing was written then).
    """


@hookspec
def spm_before_run(ws: Workspace, run: Run) -> None:
    """Called when a calculation run starts, inside its transaction, before anything is computed.

    Collected; return values are ignored. ``run`` holds ``run_id``, ``period`` and
    ``started_at`` (``status`` is ``running``; its results are not there yet). Use it to check
    preconditions (data freshness, an approval) or to record that a run began. Raising aborts
    the run: nothing it would have written is kept, and a ``failed`` run record with the error
    is written instead. Not called by ``ws.compare``, which persists nothing.
    """


@hookspec
def spm_after_run(ws: Workspace, run: Run) -> None:
    """Called when a calculation run has written all its results, before its transaction commits.

    Collected; return values are ignored. ``run`` is complete: ``status`` ``succeeded``,
    ``input_hash``, ``plan_versions``, ``timings``, ``credit_count``, ``line_count``, and
    ``run.lines()`` / ``run.credits()`` read the rows written in the still-open transaction.
    Use it to validate results (a budget check) or to write rows of your own atomically with
    the run. Raising aborts the run: everything it wrote is rolled back, and a ``failed`` run
    record with the error is written instead. Not called by ``ws.compare``.
    """


@hookspec
def spm_cli_commands(app: typer.Typer) -> None:
    """Add commands to the ``spm`` command line.

    Called once when the ``spm`` command starts, before arguments are parsed. Collected;
    return values are ignored. Register commands with ``@app.command()`` or sub-groups with
    ``app.add_typer(...)``. The built-in commands (``init``, ``demo``, ``import``, ``plugins``,
    ``app``, ...) are added through this same hook.
    """


def all_hookspec_names() -> list[str]:
    """The names of every hook defined here, in file order."""
    return [name for name, value in globals().items()
            if name.startswith("spm_") and callable(value) and hasattr(value, "spm_kernel_spec")]


