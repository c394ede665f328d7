"""Cutting payees into partitions that can be computed independently.

The unit of partitioning is the **team** (a payee without a team is a unit of their own):
a team-scoped milestone bonus sums the measure of every payee of a team on the plan, so a
team must never be split. A manager's indirect credit needs no partitioning rule of its own:
crediting (roll-ups included) runs centrally before the fan-out and gives the manager their
own credit rows, so a manager is computed from their rows alone, like anyone else.

Units are balanced by weight (their credit rows): heaviest first, dealt to the partitions
in a snake order (0, 1, .., n-1, n-1, .., 0, ...), all vectorised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def payee_units(people: pd.DataFrame) -> pd.Series:
    """The partitioning unit of each payee (index: ``payee_id``): ``team:<id>`` or ``payee:<id>``."""
    team = people["team_id"].astype(object)
    units = ("team:" + team.astype(str)).where(team.notna().to_numpy(), "payee:" + people["payee_id"].astype(str))
    return pd.Series(units.to_numpy(dtype=object), index=people["payee_id"].astype(str).to_numpy(), name="unit")


def assign_partitions(people: pd.DataFrame, weights: pd.Series, n: int) -> pd.Series:
    """The partition (0..n-1) of every payee (index: ``payee_id``), whole teams together.

    ``weights``: credit rows per ``payee_id`` (missing: 0). Partitions may be empty when there
    are fewer units than ``n``."""
    units = payee_units(people)
    if n <= 1 or len(units) == 0:
        return pd.Series(0, index=units.index, dtype=np.int64)
    w = weights.reindex(units.index).fillna(0).to_numpy(dtype=np.int64) + 1  # +1: people cost too
    per_unit = pd.Series(w, index=units.to_numpy()).groupby(level=0, sort=True).sum()
    heaviest = per_unit.sort_values(ascending=False, kind="stable")
    rank = np.arange(len(heaviest))
    rnd, pos = rank // n, rank % n
    part = np.where(rnd % 2 == 0, pos, n - 1 - pos)
    unit_part = pd.Series(part, index=heaviest.index)
    return pd.Series(unit_part.reindex(units.to_numpy()).to_numpy(dtype=np.int64), index=units.index)


def split_rows(keys: np.ndarray, n: int) -> list[np.ndarray]:
    """Row positions of each partition 0..n-1 (``keys``: the partition of every row), each in
    the original row order."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(n)]
