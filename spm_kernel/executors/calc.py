"""The payout-line computation of a run, fanned out by payee partition.

Choice (see ``docs/scale.md``): **crediting runs centrally, the payout computation fans
out.** The driver computes every credit once in DuckDB, roll-ups included (a manager's
indirect credit is complete before anything is partitioned), stores them, and builds the
plan types' frame as it does locally. The payees are then cut into partitions of whole teams
(:mod:`spm_kernel.executors.partition`); each partition gets its payees' credits, quotas,
scores and prior lines plus the shared plan book, hierarchy and assignments, and runs
:func:`spm_kernel.engine.calculate.period_lines`, the very function the local executor
runs over everybody. The driver concatenates the partitions' lines in a canonical order and
writes them in the run's one transaction.

Why not partition crediting too: roll-ups need the whole hierarchy over every credit date
and crediting is one DuckDB pass that is already parallel on the driver; the payout
computation is the pandas work that a single process does on one core, and it is
separable by payee (whole teams) once credits exist.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from spm_kernel.executors.base import Executor
from spm_kernel.executors.partition import assign_partitions, split_rows

if TYPE_CHECKING:
    from spm_kernel.engine.calculate import _Inputs
    from spm_kernel.periods import Period


def _by_payee(frame: pd.DataFrame, part_of: pd.Series, n: int) -> list[pd.DataFrame]:
    """``frame`` cut by the partition of its ``payee_id`` (rows of unknown payees go to 0)."""
    if len(frame) == 0 or "payee_id" not in frame.columns:
        return [frame] * n
    keys = frame["payee_id"].astype(object).map(part_of).fillna(0).to_numpy(dtype=np.int64)
    return [frame.iloc[rows].reset_index(drop=True) for rows in split_rows(keys, n)]


def split_inputs(inputs: _Inputs, prior: pd.DataFrame, n: int) -> list[tuple[_Inputs, pd.DataFrame]]:
    """The inputs of each non-empty partition: its payees with their credits, quotas, scores
    and prior lines; the plan book, hierarchy and assignments whole."""
    weights = inputs.credits["payee_id"].astype(object).value_counts()
    part_of = assign_partitions(inputs.people, weights, n)
    people = _by_payee(inputs.people, part_of, n)
    credits = _by_payee(inputs.credits, part_of, n)
    quotas = _by_payee(inputs.quotas, part_of, n)
    scores = _by_payee(inputs.scores, part_of, n)
    priors = _by_payee(prior, part_of, n)
    out = []
    for i in range(n):
        if len(people[i]) == 0:
            continue
        out.append((dataclasses.replace(inputs, people=people[i], credits=credits[i], quotas=quotas[i],
                                        scores=scores[i]), priors[i]))
    return out


def _partition_lines(part: tuple[_Inputs, pd.DataFrame], period: Period) -> pd.DataFrame:
    """One partition's lines, by the same code as the local run (runs on a worker)."""
    from spm_kernel.engine.calculate import period_lines

    inputs, prior = part
    return period_lines(inputs, period, prior)


def _merge_orders(sequences: list[list[str]]) -> list[str]:
    """One order of line types consistent with each partition's order of first appearance
    (a topological sort; ties by the first partition that shows the type)."""
    after: dict[str, set[str]] = {}
    seen: list[str] = []
    for seq in sequences:
        for i, name in enumerate(seq):
            after.setdefault(name, set()).update(seq[:i])
            if name not in seen:
                seen.append(name)
    out: list[str] = []
    while len(out) < len(seen):
        ready = [n for n in seen if n not in out and after[n] <= set(out)]
        out.append(ready[0] if ready else next(n for n in seen if n not in out))  # a cycle: first seen
    return out


def canonical_order(parts: list[pd.DataFrame], inputs: _Inputs) -> pd.DataFrame:
    """The partitions' lines in the order the local run emits them, so that both executors
    number a run's lines alike: by plan, plan version, component position in the plan file,
    then the blocks of line types in the order the plan type emits them (e.g. every earning
    line before the clawbacks), then payee; a payee's own lines keep their order (each payee
    is in exactly one partition). All sorts are stable."""
    parts = [p.assign(_part=i, _pos=np.arange(len(p))) for i, p in enumerate(parts) if len(p)]
    if not parts:
        return pd.DataFrame()
    lines = pd.concat(parts, ignore_index=True)
    position = {(p.plan_id, int(p.version), c.id): i for p in inputs.book for i, c in enumerate(p.components)}
    lines["_plan"] = lines["plan_id"].astype(str)
    lines["_version"] = lines["plan_version"].astype(int)
    lines["_comp"] = [position.get(k, len(position)) for k in
                      zip(lines["_plan"], lines["_version"], lines["component"].astype(str))]
    lines["_type"] = lines["line_type"].astype(str)
    comp_keys = ["_plan", "_version", "_comp"]
    first = lines.groupby(["_part", *comp_keys, "_type"], sort=False)["_pos"].min().reset_index()
    first = first.sort_values(["_part", *comp_keys, "_pos"], kind="stable")
    blocks = []  # per component (a handful of line types each): merge the partitions' type orders
    for key, rows in first.groupby(comp_keys, sort=False):
        sequences = [list(g["_type"]) for _, g in rows.groupby("_part", sort=False)]
        for i, name in enumerate(_merge_orders(sequences)):
            blocks.append((*key, name, i))
    block = pd.DataFrame(blocks, columns=[*comp_keys, "_type", "_block"])
    lines = lines.merge(block, on=[*comp_keys, "_type"], how="left", sort=False)
    lines["_payee"] = lines["payee_id"].astype(str)
    lines = lines.sort_values([*comp_keys, "_block", "_payee", "_part", "_pos"], kind="stable")
    return lines.drop(columns=["_part", "_pos", "_plan", "_version", "_comp", "_type", "_block", "_payee"]
                      ).reset_index(drop=True)


def executor_period_lines(executor: Executor, inputs: _Inputs, period: Period, prior: pd.DataFrame) -> pd.DataFrame:
    """:func:`~spm_kernel.engine.calculate.period_lines` through ``executor``: unchanged for
    the local executor; partitioned by payee (whole teams) on Dask, then put in canonical
    order. Nothing is written here."""
    from spm_kernel.engine.calculate import period_lines

    if not executor.distributed:
        return period_lines(inputs, period, prior)
    parts = split_inputs(inputs, prior, executor.partitions())
    results = executor.map(_partition_lines, parts, period)
    if not any(len(r) for r in results):
        return period_lines(dataclasses.replace(inputs, people=inputs.people.iloc[0:0]), period, prior.iloc[0:0])
    return canonical_order(results, inputs)
