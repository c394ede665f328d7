"""Sales planning: quotas top-down and bottom-up, quota sets, compensation budgets, key
markets and segments, territory balance. See docs/planning.md.

>>> from spm_kernel.planning import allocate_quotas, Ramp
>>> plan = allocate_quotas(ws, fiscal_year=2027, target="60000000", method="historical",
...                        ramp=Ramp(factors=["0.25", "0.5", "0.75"]))   # doctest: +SKIP
>>> plan.fairness()                                                       # doctest: +SKIP
>>> qs = ws.quota_sets.create(plan); ws.quota_sets.approve(qs.key)        # doctest: +SKIP
"""

from spm_kernel.planning.allocation import allocate_by_group, largest_remainder
from spm_kernel.planning.budget import CompensationBudget, compensation_budget
from spm_kernel.planning.errors import PlanningError, PlanningWarning
from spm_kernel.planning.fairness import FairnessReport, fairness, gini
from spm_kernel.planning.forecast import BookingsForecast, find_forecaster, forecast_bookings
from spm_kernel.planning.markets import MarketRanking, rank_markets
from spm_kernel.planning.quota_sets import QuotaSet, QuotaSets
from spm_kernel.planning.quotas import QuotaPlan, QuotaSettings, allocate_quotas
from spm_kernel.planning.ramp import Ramp, effective_months
from spm_kernel.planning.territory import TerritoryPlan, TerritorySettings, balance_territories

__all__ = [
    "BookingsForecast", "CompensationBudget", "FairnessReport", "MarketRanking", "PlanningError", "PlanningWarning",
    "QuotaPlan", "QuotaSet", "QuotaSets", "QuotaSettings", "Ramp", "TerritoryPlan", "TerritorySettings",
    "allocate_by_group", "allocate_quotas", "balance_territories", "compensation_budget", "effective_months",
    "fairness", "find_forecaster", "forecast_bookings", "gini", "largest_remainder", "rank_markets",
]
