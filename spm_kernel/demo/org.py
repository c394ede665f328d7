"""The sales organisation of one division (one regional unit in each of the four regions):
teams, seats and who sat in them when, payees, and the effective-dated hierarchy.

Model (vectorised over seats; the only loop is over the few successive occupants a seat has):

* each region's unit has a regional director (reports to the VP), one manager per segment
  team, two overlay specialists (report to the director) and rep *seats*;
* a seat is occupied by a sequence of reps. A rep leaves with an annual hazard that is higher
  for weaker reps (attrition), and the seat is refilled after a gap (new hires, who ramp up);
  each team also opens a growth seat during the three years;
* in each unit one SMB rep is promoted into a new Mid-Market seat mid-2025 (a *transfer*: two
  hierarchy rows, no termination), and one team's manager is replaced mid-2025 (a *manager
  change*: the team's reps get a new hierarchy row on that day).

Intervals are half-open ``[start, end)`` in integer days; ``end`` is the first day not
worked (termination date + 1), or ``NO_END``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spm_kernel.demo import company as co
from spm_kernel.demo.util import NO_END, ids, person_names

VP_ID = "P0000000"
ROLE_ORDER = {"director": 0, "manager": 1, "overlay": 2, "rep": 3}


@dataclass
class Org:
    """One division's organisation. Frames use integer days and positional indexes."""

    chunk: int
    teams: pd.DataFrame      # team (0..11), team_id, name, region (0..3), segment (0..2)
    seats: pd.DataFrame      # seat, team, segment, region
    stints: pd.DataFrame     # stint, seat, payee, start, end, team, segment, region, hire, skill
    payees: pd.DataFrame     # payee, payee_id, name, email, role, team, region, segment, currency,
                             # hire, term (-1 if none), skill, product (overlays)
    managers: pd.DataFrame   # team, payee, start, end  (who manages each team when)
    hierarchy: pd.DataFrame  # payee_id, valid_from, valid_to, manager_id (int days)


def _uniform_days(rng: np.random.Generator, lo: str, hi: str, n: int) -> np.ndarray:
    return rng.integers(co.day(lo), co.day(hi) + 1, n).astype(np.int64)


def build_org(rng: np.random.Generator, chunk: int) -> Org:
    n_regions, n_segments = len(co.REGIONS), len(co.SEGMENTS)
    region_codes = np.array([r[0] for r in co.REGIONS], dtype=object)
    region_names = np.array([r[1] for r in co.REGIONS], dtype=object)
    currencies = np.array([r[2] for r in co.REGIONS], dtype=object)
    seg_codes = np.array([s[0] for s in co.SEGMENTS], dtype=object)
    seg_names = np.array([s[1] for s in co.SEGMENTS], dtype=object)

    # ---- teams ----
    t_region = np.repeat(np.arange(n_regions), n_segments)
    t_segment = np.tile(np.arange(n_segments), n_regions)
    number = f"{chunk + 1:03d}"
    teams = pd.DataFrame({
        "team": np.arange(n_regions * n_segments),
        "team_id": region_codes[t_region] + "-" + seg_codes[t_segment] + "-" + number,
        "name": region_names[t_region] + " " + seg_names[t_segment] + " " + str(chunk + 1),
        "region": t_region, "segment": t_segment,
    })

    # ---- leaders: directors, managers (one replaced mid-2025 per unit), overlays ----
    dir_hire = _uniform_days(rng, "2012-01-09", "2014-02-28", n_regions)
    mgr_hire = _uniform_days(rng, "2014-03-01", "2019-05-31", len(teams))
    changed_team = np.arange(n_regions) * n_segments + (np.arange(n_regions) + chunk) % n_segments
    change_day = _uniform_days(rng, "2025-03-03", "2025-09-30", n_regions)
    ovl_region = np.repeat(np.arange(n_regions), len(co.OVERLAY_PRODUCTS))
    ovl_product = np.tile(np.arange(len(co.OVERLAY_PRODUCTS)), n_regions)
    ovl_hire = _uniform_days(rng, "2017-01-09", "2023-06-30", len(ovl_region))

    leaders = pd.concat([
        pd.DataFrame({"role": "director", "team": -1, "region": np.arange(n_regions), "segment": -1,
                      "hire": dir_hire, "term": -1, "product": -1}),
        pd.DataFrame({"role": "manager", "team": teams["team"], "region": t_region, "segment": t_segment,
                      "hire": mgr_hire, "term": -1, "product": -1}),
        pd.DataFrame({"role": "manager", "team": changed_team, "region": np.arange(n_regions),
                      "segment": changed_team % n_segments, "hire": change_day, "term": -1,
                      "product": -1}),
        pd.DataFrame({"role": "overlay", "team": -1, "region": ovl_region, "segment": -1,
                      "hire": ovl_hire, "term": -1, "product": ovl_product}),
    ], ignore_index=True)
    first_mgr = leaders.index[(leaders["role"] == "manager")][: len(teams)].to_numpy()
    leaders.loc[first_mgr[changed_team], "term"] = change_day - 1
    leaders["skill"] = 1.0

    # ---- seats ----
    seats_per_team = np.asarray(co.SEATS)[t_segment] + co.GROWTH_SEATS
    s_team = np.repeat(teams["team"].to_numpy(), seats_per_team)
    s_rank = np.arange(len(s_team)) - np.repeat(np.cumsum(seats_per_team) - seats_per_team, seats_per_team)
    s_growth = s_rank >= np.asarray(co.SEATS)[t_segment][s_team]
    # the promotion: SMB seat 0 of each unit -> a new Mid-Market seat
    transfer_day = _uniform_days(rng, "2025-04-01", "2025-08-29", n_regions)
    mm_teams = np.arange(n_regions) * n_segments + 1
    s_team = np.concatenate([s_team, mm_teams])
    s_growth = np.concatenate([s_growth, np.zeros(n_regions, dtype=bool)])
    s_transfer_in = np.concatenate([np.zeros(len(s_rank), dtype=bool), np.ones(n_regions, dtype=bool)])
    s_rank = np.concatenate([s_rank, np.full(n_regions, -1)])
    n_seats = len(s_team)
    seats = pd.DataFrame({"seat": np.arange(n_seats), "team": s_team,
                          "segment": t_segment[s_team], "region": t_region[s_team]})
    source_seat = np.flatnonzero((s_rank == 0) & (t_segment[s_team] == 0))  # one per region, in order

    # ---- occupants, seat by seat (loop over the few successive occupants) ----
    start = np.where(s_growth, _uniform_days(rng, "2024-02-01", "2026-06-30", n_seats),
                     _uniform_days(rng, "2019-06-03", "2023-09-29", n_seats))
    start[s_transfer_in] = transfer_day
    active = np.ones(n_seats, dtype=bool)
    stint_parts = []
    skill_of_seat = np.exp(rng.normal(0.0, co.SKILL_SIGMA, n_seats))
    for k in range(co.MAX_OCCUPANTS):
        if k > 0:
            skill_of_seat = np.exp(rng.normal(0.0, co.SKILL_SIGMA, n_seats))
        if k == 0:  # the promoted rep keeps their skill in the new seat
            skill_of_seat[s_transfer_in] = skill_of_seat[source_seat]
        hazard = co.ANNUAL_ATTRITION * skill_of_seat ** -1.2
        at_risk_from = np.maximum(start, co.START_DAY)
        leave = at_risk_from + np.ceil(rng.exponential(365.0 / hazard)).astype(np.int64)
        transferred_out = np.zeros(n_seats, dtype=bool)
        if k == 0:
            leave[source_seat] = transfer_day
            transferred_out[source_seat] = True
        leave = np.where(leave > co.AS_OF_DAY, NO_END, leave)
        stint_parts.append(pd.DataFrame({
            "seat": np.flatnonzero(active), "k": k, "start": start[active], "end": leave[active],
            "skill": skill_of_seat[active], "transferred_out": transferred_out[active],
            "transfer_in": (s_transfer_in & (k == 0))[active],
        }))
        gap = rng.integers(co.REPLACEMENT_GAP_DAYS[0], co.REPLACEMENT_GAP_DAYS[1] + 1, n_seats)
        start = np.where(leave < NO_END, leave + gap, NO_END)
        active = active & (start <= co.AS_OF_DAY)
        if not active.any():
            break
    stints = pd.concat(stint_parts, ignore_index=True).sort_values(["seat", "k"], kind="stable")
    stints = stints.reset_index(drop=True)
    stints["team"] = s_team[stints["seat"]]
    stints["segment"] = t_segment[stints["team"]]
    stints["region"] = t_region[stints["team"]]

    # ---- rep payees: one per stint, except that the promoted rep's new stint is theirs ----
    new_person = ~stints["transfer_in"].to_numpy()
    reps = stints.loc[new_person, ["seat", "start", "skill", "team", "segment", "region"]].copy()
    reps = reps.rename(columns={"start": "hire"})
    reps["role"], reps["product"] = "rep", -1
    people = pd.concat([leaders, reps.drop(columns=["seat"])], ignore_index=True)
    people["payee"] = np.arange(len(people))
    rep_payee = np.full(len(stints), -1, dtype=np.int64)
    rep_payee[new_person] = people["payee"].to_numpy()[len(leaders):]
    # the promoted rep: the payee of the source seat's first stint
    src_stint = stints.index[stints["seat"].isin(source_seat) & (stints["k"] == 0)].to_numpy()
    src_stint = src_stint[np.argsort(stints.loc[src_stint, "region"].to_numpy())]
    dst_stint = stints.index[stints["transfer_in"].to_numpy()].to_numpy()
    dst_stint = dst_stint[np.argsort(stints.loc[dst_stint, "region"].to_numpy())]
    rep_payee[dst_stint] = rep_payee[src_stint]
    stints["payee"] = rep_payee
    stints["stint"] = np.arange(len(stints))
    stints["hire"] = people["hire"].to_numpy()[rep_payee]

    # rep attributes from their last stint; terminated if their last stint ended
    last = stints.groupby("payee").tail(1).set_index("payee")
    rep_rows = people.index[people["role"] == "rep"].to_numpy()
    last = last.loc[people.loc[rep_rows, "payee"].to_numpy()]
    people.loc[rep_rows, "team"] = last["team"].to_numpy()
    people.loc[rep_rows, "segment"] = last["segment"].to_numpy()
    people.loc[rep_rows, "term"] = np.where(last["end"].to_numpy() < NO_END, last["end"].to_numpy() - 1, -1)

    # ---- ids, names, currencies ----
    people = people.sort_values(["region", "role", "team", "hire"], key=lambda s: s.map(ROLE_ORDER)
                                if s.name == "role" else s, kind="stable")
    order = people["payee"].to_numpy()
    new_number = np.empty(len(order), dtype=np.int64)
    new_number[order] = np.arange(1, len(order) + 1)
    if len(order) > 999:
        raise ValueError("a division holds at most 999 payees")
    payee_ids = ids("P", chunk, new_number, 3).to_numpy(zero_copy_only=False)
    people = people.sort_values("payee").reset_index(drop=True)
    people["payee_id"] = payee_ids
    first, last_name = person_names(rng, len(people))
    people["name"] = pd.Series(first).str.cat(pd.Series(last_name), sep=" ").to_numpy()
    handle = (pd.Series(first).str.lower() + "." + pd.Series(last_name).str.lower()
              .str.replace("'", "", regex=False))
    people["email"] = (handle + "." + pd.Series(payee_ids).str.lower() + "@northwind-analytics.example").to_numpy()
    people["currency"] = currencies[people["region"].to_numpy()]

    # ---- who manages each team when ----
    mgr = people[people["role"] == "manager"]
    m_end = np.where(mgr["term"].to_numpy() >= 0, mgr["term"].to_numpy() + 1, NO_END)
    replaced = people.index[(people["role"] == "manager") & (people["term"] >= 0)]
    m_start = np.where(mgr["payee"].isin(people.loc[replaced, "payee"]) | ~mgr["team"].isin(changed_team),
                       0, mgr["hire"].to_numpy())
    managers = pd.DataFrame({"team": mgr["team"].to_numpy(), "payee": mgr["payee"].to_numpy(),
                             "start": m_start, "end": m_end})

    hierarchy = _hierarchy(people, stints, managers)
    return Org(chunk, teams, seats, stints, people, managers, hierarchy)


def _hierarchy(people: pd.DataFrame, stints: pd.DataFrame, managers: pd.DataFrame) -> pd.DataFrame:
    """Effective-dated reporting lines: leaders from their hire day, reps per stint and per
    manager of the stint's team (so a transfer or a manager change starts a new row)."""
    pid = people["payee_id"].to_numpy()
    directors = people[people["role"] == "director"].set_index("region")["payee"]
    end_of = np.where(people["term"].to_numpy() >= 0, people["term"].to_numpy() + 1, NO_END)
    leaders = people[people["role"] != "rep"]
    boss = np.where(leaders["role"] == "director", -1, directors.reindex(leaders["region"]).to_numpy())
    rows = [pd.DataFrame({
        "payee_id": pid[leaders["payee"].to_numpy()],
        "valid_from": leaders["hire"].to_numpy(),
        "valid_to": end_of[leaders["payee"].to_numpy()],
        "manager_id": np.where(boss >= 0, pid[np.maximum(boss, 0)], VP_ID),
    })]
    pairs = stints[["payee", "team", "start", "end"]].merge(
        managers.rename(columns={"payee": "mgr", "start": "m_start", "end": "m_end"}), on="team")
    lo = np.maximum(pairs["start"].to_numpy(), pairs["m_start"].to_numpy())
    hi = np.minimum(pairs["end"].to_numpy(), pairs["m_end"].to_numpy())
    pairs = pairs.assign(lo=lo, hi=hi)[lo < hi]
    rows.append(pd.DataFrame({
        "payee_id": pid[pairs["payee"].to_numpy()],
        "valid_from": pairs["lo"].to_numpy(),
        "valid_to": pairs["hi"].to_numpy(),
        "manager_id": pid[pairs["mgr"].to_numpy()],
    }))
    return pd.concat(rows, ignore_index=True).sort_values(["payee_id", "valid_from"]).reset_index(drop=True)
