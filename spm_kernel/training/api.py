"""``ws.training``: the training API on a workspace, one object per call (it holds nothing
but the workspace)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from spm_kernel.training import assignments as _a
from spm_kernel.training import catalogue as _c
from spm_kernel.training import completions as _done
from spm_kernel.training import effect as _e

if TYPE_CHECKING:
    from spm_kernel.ingest.loader import LoadResult
    from spm_kernel.workspace import Workspace


class Training:
    """Catalogue, assignments, completions and the measured effect of training."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    # catalogue
    def modules(self) -> pd.DataFrame:
        return _c.modules(self.ws)

    def module(self, module_id: str) -> dict[str, object]:
        return _c.module(self.ws, module_id)

    def paths(self, role: str | None = None) -> pd.DataFrame:
        return _c.paths(self.ws, role)

    # assignments
    def status(self, as_of: date | str | None = None, *, manager: str | None = None,
               payee: str | None = None) -> pd.DataFrame:
        return _a.assignment_status(self.ws, as_of, manager=manager, payee=payee)

    def overdue(self, as_of: date | str | None = None, *, manager: str | None = None) -> pd.DataFrame:
        return _a.overdue(self.ws, as_of, manager=manager)

    def counts(self, as_of: date | str | None = None, *, manager: str | None = None,
               by: str = "payee_id") -> pd.DataFrame:
        return _a.completion_counts(self.ws, as_of, manager=manager, by=by)

    def assign(self, as_of: date | str | None = None, *, rules: list[str] | None = None,
               period: str | None = None, dry_run: bool = False) -> pd.DataFrame:
        return _a.assign_by_rules(self.ws, as_of, rules=rules, period=period, dry_run=dry_run)

    def assign_path(self, payees: list[str], path_id: str, *, as_of: date | str | None = None,
                    due_days: int = 30, reason: str | None = None, dry_run: bool = False) -> pd.DataFrame:
        return _a.assign_path(self.ws, payees, path_id, as_of=as_of, due_days=due_days, reason=reason,
                              dry_run=dry_run)

    def kpi_gaps(self, metric: str, percentile: float, *, period: str, role: str = "rep",
                 min_peers: int = _a.DEFAULT_MIN_PEERS) -> pd.DataFrame:
        return _a.kpi_gaps(self.ws, metric, percentile, period=period, role=role, min_peers=min_peers)

    # completions
    def complete(self, payee_id: str, module_id: str, *, at: datetime | None = None,
                 score: float | None = None) -> LoadResult:
        return _done.record_completion(self.ws, payee_id, module_id, at=at, score=score)

    def import_completions(self, path: str | Path, *, date_format: str | None = None) -> _done.CompletionImport:
        return _done.import_completions(self.ws, path, date_format=date_format)

    # effect
    def effect(self, *, store: bool = False, actor: str | None = None, **settings: Any) -> _e.EffectEstimate:
        """Fit the training-effect model (see :mod:`spm_kernel.training.effect`); ``store``
        appends the estimate to ``training_effects``."""
        estimate = _e.estimate_effect(self.ws, **settings)
        if store:
            _e.store_estimate(self.ws, estimate, actor=actor)
        return estimate

    def effects(self) -> pd.DataFrame:
        """The newest stored estimate per module and metric."""
        return _e.latest_estimates(self.ws)
