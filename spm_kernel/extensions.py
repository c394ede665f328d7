"""The base classes that plugins implement and register through the hooks in ``hookspecs``.

Each extension has a unique ``name`` (what plan files, ``ws.metrics`` and ``spm sync`` refer
to), a human ``label`` and a one-line ``description``. When two plugins register the same
name, the one called first wins: third-party plugins are called before the built-ins (which
are marked ``trylast``), so a team can replace a built-in by registering its name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

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

    ``tables`` lists the canonical tables it can write; ``config_model`` validates its
    configuration; ``check`` says whether it can reach its system with the credentials it
    has; ``sync`` writes through ``ws.load`` (validated, all-or-nothing) and returns what it
    did.
    """

    tables: ClassVar[tuple[str, ...]] = ()
    config_model: ClassVar[type[BaseModel]] = BaseModel

    @abstractmethod
    def check(self, config: BaseModel) -> str:
        """Return a short confirmation, or raise an error saying what is wrong."""

    @abstractmethod
    def sync(self, ws: Workspace, config: BaseModel, since: datetime | None = None) -> dict[str, Any]:
        """Write changed rows since ``since`` (all rows when None) and return counts."""


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
    """A KPI computable at any grain and period.

    Declares its ``unit`` (``ratio``, ``currency``, ``days``, ``count``), a ``definition``
    sentence and a ``formula`` (rendered into docs/metrics.md), the ``tables`` it reads and
    whether ``higher_is_better``.
    """

    unit: ClassVar[str] = "count"
    definition: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    tables: ClassVar[tuple[str, ...]] = ()
    higher_is_better: ClassVar[bool] = True

    @abstractmethod
    def compute(self, ws: Workspace, **query: Any) -> pd.DataFrame:
        """A tidy DataFrame with at least the columns ``metric`` and ``value``."""


class Forecaster(Extension):
    """Fits history and returns posterior predictive samples as a tidy DataFrame."""

    @abstractmethod
    def fit(self, history: pd.DataFrame, **options: Any) -> Any:
        """Fit a model to ``history`` and return the fitted model."""

    @abstractmethod
    def predict(self, model: Any, horizon: int, **options: Any) -> pd.DataFrame:
        """Samples for ``horizon`` periods ahead, one row per (series, period, sample)."""
