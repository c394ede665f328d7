"""The base classes that plugins implement and register through the hooks in ``hookspecs``.

Each extension has a unique ``name`` (what plan files, ``ws.metrics`` and ``spm sync`` refer
to), a human ``label`` and a one-line ``description``. When two plugins register the same
name, the one called first wins: third-party plugins are called before the built-ins (which
are marked ``trylast``), so a team can replace a built-in by registering its name.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self

import pandas as pd
from pydantic import BaseModel

from spm_kernel.plantypes.contract import (  # noqa: F401 - re-exported for plan-type authors
    CREDIT_COLUMNS,
    LINE_COLUMNS,
    LINE_TYPES,
    PAYEE_COLUMNS,
    PRIOR_LINE_COLUMNS,
    QUOTA_COLUMNS,
    SCORE_COLUMNS,
    CalcInput,
    CalcPeriod,
)

if TYPE_CHECKING:
    from spm_kernel.metrics.context import MetricContext
    from spm_kernel.sync.batch import Batch, SyncContext, SyncResult
    from spm_kernel.workspace import Workspace


class Extension(ABC):
    """What every registered extension declares."""

    name: ClassVar[str]
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class DataSource(Extension):
    """Brings rows into canonical tables from somewhere else (files, SQL, a CRM).

    A registered source is a *type* of source; a workspace configures named instances of it
    in ``sources.yaml`` (see :mod:`spm_kernel.sync.settings`) and :meth:`configure` returns
    one bound to its validated configuration. The contract:

    * ``tables``: the canonical tables it can write, in the order it writes them;
    * ``config_model``: the pydantic model of its configuration. Fields typed
      ``pydantic.SecretStr`` are credentials: they are read from the environment or from a
      credentials file outside the workspace, never from ``sources.yaml``, and never logged;
    * :meth:`check`: reach the system with the credentials and return a one-line
      confirmation, or raise :class:`spm_kernel.sync.SourceError` saying what is wrong;
    * :meth:`fetch`: yield :class:`spm_kernel.sync.Batch` objects (rows in canonical columns
      plus ``source_id``, ids deleted at the source, a watermark per stream). It reads; it
      never writes to the workspace;
    * :meth:`sync`: provided here; runs :func:`spm_kernel.sync.run_sync`, which writes every
      batch in ONE transaction (validated upserts keyed by the source and the record's id,
      rejected records quarantined with their reasons, a row in ``sync_log``).
    """

    tables: ClassVar[tuple[str, ...]] = ()
    config_model: ClassVar[type[BaseModel]] = BaseModel

    config: BaseModel | None = None
    instance: str = ""

    def configure(self, config: BaseModel | dict[str, Any], instance: str | None = None) -> Self:
        """A copy of this source bound to ``config`` (validated by ``config_model``) under the
        instance name ``instance`` (the ``source`` written on every row; default ``name``)."""
        bound = copy.copy(self)
        bound.config = config if isinstance(config, self.config_model) else \
            self.config_model.model_validate(config)
        bound.instance = instance or self.name
        return bound

    def settings(self) -> Any:
        """The bound configuration; raises if :meth:`configure` was not called."""
        if self.config is None:
            raise RuntimeError(f"data source {self.name!r} is not configured: call configure(config)")
        return self.config

    @abstractmethod
    def check(self) -> str:
        """Return a short confirmation, or raise SourceError saying what is wrong."""

    @abstractmethod
    def fetch(self, context: SyncContext) -> Iterator[Batch]:
        """Yield the records changed since ``context.since(stream)`` (all when None)."""

    def sync(self, ws: Workspace, since: datetime | None = None, *, full: bool = False,
             progress: bool = True) -> SyncResult:
        """Bring ``ws`` up to date with this source in one transaction; see
        :func:`spm_kernel.sync.run_sync` for ``since`` and ``full``."""
        from spm_kernel.sync.engine import run_sync
        return run_sync(ws, self, since=since, full=full, progress=progress)


class PlanType(Extension):
    """Turns credits into payout lines for one kind of plan component (vectorised).

    The full contract (every input column, every output column, sign conventions) is in
    :mod:`spm_kernel.plantypes.contract`; docs/plans.md shows a complete plan type in under
    50 lines. In short:

    * ``config_model``: the pydantic model of the component's options in a plan file. Use
      ``model_config = ConfigDict(extra="forbid")`` so a misspelt option is an error. The
      plan loader validates it and reports errors with the file, the path inside it and the
      line.
    * ``calculate(inp)``: receives a :class:`CalcInput` holding the credits, quotas, payees
      and prior lines of **every payee** the component pays, and returns a DataFrame of
      payout lines (:data:`LINE_COLUMNS`) for ``inp.period`` only, each ``amount`` a
      ``Decimal`` rounded to ``inp.minor_units`` with ``inp.rounding``.
    * ``credit_window`` / ``history_start``: which credits and prior lines it needs (by
      default plan-year start to period end). Override to look further back (clawbacks).
    * ``validate_plan_config``: optional extra checks when a plan is loaded; return a list
      of ``(path, message)`` problems (``path`` relative to the component, e.g.
      ``("tiers", 2, "rate")``).
    """

    config_model: ClassVar[type[BaseModel]] = BaseModel

    @abstractmethod
    def calculate(self, inp: CalcInput) -> pd.DataFrame:
        """Payout lines (:data:`LINE_COLUMNS`) of ``inp.period`` for every payee in ``inp``."""

    def credit_window(self, config: BaseModel, period: CalcPeriod, plan_year: CalcPeriod) -> tuple[date, date]:
        """First and last credit date (inclusive) whose credits ``calculate`` needs."""
        return plan_year.start, period.end

    def history_start(self, config: BaseModel, period: CalcPeriod, plan_year: CalcPeriod) -> date:
        """The first day of the periods whose payout lines ``prior_lines`` must hold."""
        return plan_year.start

    def validate_plan_config(self, config: BaseModel) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems that pydantic cannot see (cross-field checks); empty when valid."""
        return []


class Metric(Extension):
    """A KPI computable at any grain and period, vectorised (DuckDB SQL or pandas, never a
    loop over payees). ``ws.metrics(...)`` runs it; docs/metrics.md is rendered from its
    declarations.

    Declares its ``unit`` (``ratio``, ``currency``, ``currency_per_day``, ``days``,
    ``count``, ``correlation``), a one-line ``definition`` and a ``formula``, the ``tables``
    it reads, whether ``higher_is_better``, and the ``grains`` it can be computed at (any of
    :data:`spm_kernel.metrics.GRAINS`). The contract of :meth:`compute`:

    * it receives a :class:`spm_kernel.metrics.MetricContext`: the windows (every period of
      the query at once: a time series is one call), the members of each group at the
      query's grain, the grid of (period, key) rows to answer, and shared relations (deals,
      credits and quotas in base currency) as DuckDB temp tables;
    * it returns one row per row of ``ctx.grid``: columns ``period``, ``key``, ``value``,
      ``numerator``, ``denominator``. ``value`` is ``None``/NaN when undefined (no closed
      deals, zero quota). Money (``currency`` units) is ``decimal.Decimal``; ratios, days
      and correlations may be floats (they are not paid).

    :meth:`revenue_impact` (optional) estimates, per row of a benchmarking frame, the
    revenue a payee or team would gain by closing the gap to a target value; benchmarking
    ranks "areas for improvement" by it.
    """

    unit: ClassVar[str] = "count"
    definition: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    tables: ClassVar[tuple[str, ...]] = ()
    higher_is_better: ClassVar[bool] = True
    grains: ClassVar[tuple[str, ...]] = ("payee", "manager", "team", "region", "segment", "product", "company")

    @abstractmethod
    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        """One row per (``period``, ``key``) of ``ctx.grid`` with ``value``, ``numerator``
        and ``denominator``."""

    def revenue_impact(self, gaps: pd.DataFrame) -> pd.Series:
        """Estimated revenue (base currency, float) from reaching ``gaps['target']``.

        ``gaps`` has one row per (payee or team, this metric): ``value``, ``target``,
        ``gap`` (target - value, signed so that positive means behind for either
        direction), ``numerator``, ``denominator``, ``days`` (of the period) and, for
        context, the entity's other KPIs as columns ``kpi__<name>`` (value),
        ``kpi_num__<name>`` and ``kpi_den__<name>``. The default says the impact cannot be
        estimated (NaN): such areas are listed after the estimable ones.
        """
        return pd.Series(float("nan"), index=gaps.index, dtype="float64")


class Forecaster(Extension):
    """Fits history and returns posterior predictive samples as tidy DataFrames.

    Frames (monthly; amounts are floats in the workspace's base currency: forecasts are
    distributions, not money that is paid):

    * **history** (``history`` returns it, ``fit`` takes it): one row per (``series_id``,
      ``period``) with ``value``; ``period`` is the first day of the month. A forecaster
      documents any further columns it uses (team, region, hire date, ...).
    * **samples** (``predict``): one row per (``series_id``, ``period``, ``sample``) with
      ``horizon`` (1 = the month after the last month of history) and ``value``. Sample *k*
      of every series comes from the same joint draw, so sums over series of the same
      sample (team, region, company roll-ups) are coherent samples of the total.
    * **payee samples** (``payee_samples``): one row per (``payee_id``, ``sample``) with
      ``value``, the payee's bookings over a future window. This is what quota planning,
      P(quota) and the compensation-cost distribution consume.
    """

    @abstractmethod
    def history(self, ws: Workspace, as_of: date | None = None) -> pd.DataFrame:
        """The history frame built from the workspace's tables, with months ending before
        ``as_of`` (default: the end of the workspace's data)."""

    @abstractmethod
    def fit(self, history: pd.DataFrame, **options: Any) -> Any:
        """Fit a model to ``history`` and return the fitted model."""

    @abstractmethod
    def predict(self, model: Any, horizon: int, **options: Any) -> pd.DataFrame:
        """Samples for ``horizon`` months ahead, one row per (series_id, period, sample)."""

    @abstractmethod
    def payee_samples(self, ws: Workspace, start: date, end: date, samples: int = 1000,
                      **options: Any) -> pd.DataFrame:
        """Bookings per payee summed over the months from ``start`` to ``end`` (inclusive),
        as ``samples`` joint samples: columns ``payee_id``, ``sample``, ``value``. Fits (or
        reuses a cached fit of) the workspace's history."""
