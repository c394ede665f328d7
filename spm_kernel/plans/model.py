"""The plan file: a versioned, effective-dated set of components assigned to payees.

One YAML file holds one version of one plan::

    plan_id: ae-plan                 # lowercase letters, digits, - and _
    version: 1                       # a later version of the same plan_id wins on the dates it covers
    name: FY2026 Account Executive plan
    status: active                   # active | proposed (what-if only) | retired
    effective_from: 2026-01-01
    effective_to: 2026-12-31         # inclusive; omit for open-ended
    currency: USD                    # optional: only payees paid in this currency may be assigned
    rounding: ROUND_HALF_UP          # how every payout line is rounded to the minor unit
    mid_period: by_credit_date       # or prorate_by_days: how a change inside a period applies
    target_incentive: 60000          # annual, default for every assignment
    assignments:
      - role: rep                    # or team: T01, or payee: P0001
        effective_from: 2026-01-01   # optional, default the plan's dates
        target_incentive: 60000      # optional override
    components:
      - id: commission               # unique in the plan
        type: rate_table             # a registered plan type (spm plugins lists them)
        ...                          # the plan type's own options (docs/plans.md)

Every mapping refuses unknown keys, so a typo is an error that names the file, the path
inside it, the line and what was expected (see :mod:`spm_kernel.plans.loader`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from spm_kernel.config import RoundingMode
from spm_kernel.extensions import PlanType

MidPeriod = Literal["by_credit_date", "prorate_by_days"]
PlanStatus = Literal["active", "proposed", "retired"]
PLAN_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
COMPONENT_ID_PATTERN = r"^[a-z][a-z0-9_]*$"


class AssignmentSpec(BaseModel):
    """Who a plan applies to: exactly one of ``payee``, ``role`` or ``team``, effective-dated.

    The dates default to the plan version's; ``target_incentive`` (annual) overrides the
    plan's default for the payees this row assigns. When several rows assign one payee, the
    most specific wins: ``payee`` over ``team`` over ``role``.
    """

    model_config = ConfigDict(extra="forbid")

    payee: str | None = None
    role: str | None = None
    team: str | None = None
    effective_from: date | None = None
    effective_to: date | None = None
    target_incentive: Decimal | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_assignee(self) -> AssignmentSpec:
        given = [n for n in ("payee", "role", "team") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"an assignment names exactly one of payee, role or team (got {given or 'none'})")
        if self.effective_from and self.effective_to and self.effective_to < self.effective_from:
            raise ValueError(f"effective_to {self.effective_to} is before effective_from {self.effective_from}")
        return self

    @property
    def assignee_type(self) -> str:
        return "payee" if self.payee is not None else "team" if self.team is not None else "role"

    @property
    def assignee(self) -> str:
        return str(self.payee or self.team or self.role)


class ComponentHeader(BaseModel):
    """The keys every component has; the rest belongs to its plan type's ``config_model``."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(pattern=COMPONENT_ID_PATTERN)
    type: str = Field(min_length=1)
    label: str = ""
    description: str = ""


HEADER_KEYS = frozenset(ComponentHeader.model_fields)


class PlanFile(BaseModel):
    """The top level of a plan file (components are validated by their plan types)."""

    model_config = ConfigDict(extra="forbid")

    plan_id: str = Field(pattern=PLAN_ID_PATTERN)
    version: int = Field(ge=1, le=2_147_483_647)  # stored as INTEGER
    name: str = Field(min_length=1)
    description: str = ""
    status: PlanStatus = "active"
    effective_from: date
    effective_to: date | None = None
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    rounding: RoundingMode = "ROUND_HALF_UP"
    mid_period: MidPeriod = "by_credit_date"
    target_incentive: Decimal | None = Field(None, ge=0)
    assignments: list[AssignmentSpec] = Field(min_length=1)
    components: list[dict[str, Any]] = Field(min_length=1)

    @model_validator(mode="after")
    def _dates(self) -> PlanFile:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError(f"effective_to {self.effective_to} is before effective_from {self.effective_from}")
        return self


@dataclass(frozen=True)
class PlanComponent:
    """One validated component: its id, its plan type and its validated options."""

    id: str
    type: str
    label: str
    description: str
    plan_type: PlanType
    config: BaseModel


@dataclass(frozen=True)
class Plan:
    """One loaded, validated plan version."""

    spec: PlanFile
    components: tuple[PlanComponent, ...]
    path: Path | None = None
    content_hash: str = ""
    text: str = field(default="", repr=False)

    @property
    def plan_id(self) -> str:
        return self.spec.plan_id

    @property
    def version(self) -> int:
        return self.spec.version

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def key(self) -> tuple[str, int]:
        return (self.plan_id, self.version)

    def component(self, component_id: str) -> PlanComponent:
        for comp in self.components:
            if comp.id == component_id:
                return comp
        raise KeyError(f"plan {self.plan_id} v{self.version} has no component {component_id!r}; "
                       f"it has {', '.join(c.id for c in self.components)}")

    def effective_on(self, day: date) -> bool:
        return self.spec.effective_from <= day and (self.spec.effective_to is None or day <= self.spec.effective_to)

    def overlaps(self, start: date, end: date) -> bool:
        return self.spec.effective_from <= end and (self.spec.effective_to is None or start <= self.spec.effective_to)

    def __repr__(self) -> str:
        return f"<Plan {self.plan_id} v{self.version} ({len(self.components)} components)>"
