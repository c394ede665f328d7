"""Training in the demo company: the module catalogue, assignments and completions.

Assignments follow the rules a sales-enablement team would use:

* onboarding modules for every rep and manager hired during the data range, due in 30 days;
* the annual compliance module for everyone employed on 1 February, due 31 March;
* the negotiation path (``TRN-NEG-01``, ``TRN-NEG-02``) on 15 January 2025 and 2026 for the
  weakest quarter of each segment's active reps (the generator knows their latent skill; a
  real team would use "win rate below the peers' 25th percentile", which tracks it);
* the overlay deep-dive for overlay specialists and the forecasting module for managers.

Most assignments are completed, some late, some never (or not by the end of the data).
Completing ``TRN-NEG-01`` raises a rep's win probability on deals they create afterwards by
:data:`~spm_kernel.demo.company.TRAINING_EFFECT` (relative): a known, injected effect.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from spm_kernel.demo import company as co
from spm_kernel.demo.util import NO_END, ids

# (module_id, title, skill, format, duration_minutes, link)
MODULES: tuple[tuple[str, str, str, str, int, str | None], ...] = (
    ("TRN-ONB-01", "Northwind product fundamentals", "product", "elearning", 90, None),
    ("TRN-ONB-02", "Pipeline stages and CRM hygiene", "process", "video", 45,
     "https://learn.northwind-analytics.example/crm-hygiene"),
    ("TRN-ONB-03", "Running a discovery call", "discovery", "workshop", 180, None),
    ("TRN-NEG-01", "Negotiation essentials", "negotiation", "workshop", 240, None),
    ("TRN-NEG-02", "Negotiating multi-year and renewal deals", "negotiation", "coaching", 60, None),
    ("TRN-PRO-01", "Prospecting with intent data", "prospecting", "elearning", 60, None),
    ("TRN-VAL-01", "Value selling and business cases", "value selling", "reading", 30,
     "https://learn.northwind-analytics.example/value-selling"),
    ("TRN-CMP-01", "Annual compliance: anti-bribery and data protection", "compliance", "elearning",
     40, None),
    ("TRN-MGR-01", "Coaching your team", "coaching", "workshop", 240, None),
    ("TRN-MGR-02", "Forecasting with confidence", "forecasting", "reading", 35, None),
    ("TRN-OVL-01", "AI Insights and Data Pipelines technical deep dive", "product", "video", 120, None),
)

_CONTENT = {
    "product": "Walk through the product line ({title}), the problems each product solves and "
               "the questions customers ask most.",
    "process": "Why clean pipeline data matters: every stage, its exit criteria, and what a "
               "manager looks for in a forecast call.",
    "discovery": "Plan and run a discovery call: prepare, ask open questions, confirm pain, "
                 "agree next steps.",
    "negotiation": "Trade, don't concede: anchor on value, know your walk-away, and close "
                   "with a mutual plan.",
    "prospecting": "Use intent signals to pick accounts, and write outreach that gets replies.",
    "value selling": "Quantify the customer's outcome and build a one-page business case.",
    "compliance": "The rules every seller must follow: gifts and hospitality, data protection, "
                  "and how to report a concern.",
    "coaching": "Weekly one-to-ones, deal reviews and call coaching that change behaviour.",
    "forecasting": "Commit, best case and pipeline: calling a number you can defend.",
}

# Learning paths per role (path_id, name, role or None for everyone, description, modules in order)
PATHS: tuple[tuple[str, str, str | None, str, tuple[str, ...]], ...] = (
    ("PATH-REP-ONB", "Rep onboarding", "rep", "The first month of a new rep.",
     ("TRN-ONB-01", "TRN-ONB-02", "TRN-ONB-03")),
    ("PATH-MGR-ONB", "Manager onboarding", "manager", "The first month of a new manager.", ("TRN-MGR-01",)),
    ("PATH-NEG", "Negotiation", "rep", "For reps whose win rate trails their peers.",
     ("TRN-NEG-01", "TRN-NEG-02")),
    ("PATH-CMP", "Annual compliance", None, "Every employee, every year.", ("TRN-CMP-01",)),
    ("PATH-OVL", "Overlay specialist", "overlay", "Product depth for overlay specialists.", ("TRN-OVL-01",)),
    ("PATH-MGR", "Manager skills", "manager", "Forecasting for first-line managers.", ("TRN-MGR-02",)),
    ("PATH-REP-GROW", "Rep growth", "rep", "Optional modules a rep may take at any time.",
     ("TRN-PRO-01", "TRN-VAL-01")),
)
# The rules that reproduce the demo's assignments (rule_id, path, kind, role, metric, percentile,
# due_days, repeat_days, description). The demo picked its negotiation cohort by latent skill;
# the rule uses what an enablement team can see: win rate below the peers' 25th percentile.
RULES: tuple[tuple[str, str, str, str | None, str | None, int | None, int, int | None, str], ...] = (
    ("R-REP-ONB", "PATH-REP-ONB", "new_hire", "rep", None, None, 30, None, "New reps: onboarding in 30 days"),
    ("R-MGR-ONB", "PATH-MGR-ONB", "new_hire", "manager", None, None, 30, None,
     "New managers: coaching in 30 days"),
    ("R-CMP", "PATH-CMP", "role", None, None, None, 58, 300, "Everyone: compliance every year"),
    ("R-OVL", "PATH-OVL", "role", "overlay", None, None, 60, None, "Overlay specialists: the product deep dive"),
    ("R-NEG", "PATH-NEG", "kpi_gap", "rep", "win_rate", 25, 45, None,
     "Win rate below the peers' 25th percentile: the negotiation path"),
)

# completion probability and median days to complete, by reason
_COMPLETION = {"onboarding": (0.96, 10.0), "compliance": (0.97, 18.0), "kpi gap: win rate": (0.82, 20.0),
               "role: overlay": (0.9, 15.0), "role: manager": (0.88, 14.0)}
_SCORED_FORMATS = {"elearning", "workshop"}


def modules_frame() -> pd.DataFrame:
    """The training catalogue (the same at every scale)."""
    rows = []
    for module_id, title, skill, fmt, minutes, link in MODULES:
        body = _CONTENT[skill].format(title=title)
        content = (f"# {title}\n\n**Skill:** {skill} - **Format:** {fmt} - **Duration:** {minutes} min\n\n"
                   f"{body}\n\n## Checklist\n\n- Read or watch the material\n- Try it on one live deal\n"
                   f"- Discuss it with your manager\n")
        rows.append({"module_id": module_id, "title": title, "skill": skill, "format": fmt,
                     "duration_minutes": minutes, "content": content, "link": link})
    return pd.DataFrame(rows)


def paths_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training_paths, training_path_modules) of the demo catalogue."""
    paths = pd.DataFrame([{"path_id": p, "name": n, "role": r, "description": d} for p, n, r, d, _ in PATHS])
    members = pd.DataFrame([{"path_id": p, "module_id": m, "position": i}
                            for p, _, _, _, mods in PATHS for i, m in enumerate(mods, start=1)])
    return paths, members


def rules_frame() -> pd.DataFrame:
    """The demo's assignment rules (``training_rules``); percentiles in hundredths."""
    rows = [{"rule_id": r, "path_id": p, "kind": k, "role": role, "metric": metric,
             "percentile": None if pct is None else pct * 100, "min_peers": 4 if k == "kpi_gap" else None,
             "due_days": due, "repeat_days": repeat, "description": text}
            for r, p, k, role, metric, pct, due, repeat, text in RULES]
    frame = pd.DataFrame(rows)
    for col in ("percentile", "min_peers", "repeat_days"):
        frame[col] = frame[col].astype("Int64")
    return frame


def _active_on(payees: pd.DataFrame, d: int) -> np.ndarray:
    end = np.where(payees["term"].to_numpy() >= 0, payees["term"].to_numpy() + 1, NO_END)
    return (payees["hire"].to_numpy() <= d) & (d < end)


def assignments(payees: pd.DataFrame, stints: pd.DataFrame) -> pd.DataFrame:
    """Every assignment (payee index, module, assigned day, due day, reason), unnumbered."""
    parts = []
    role = payees["role"].to_numpy()
    new_hire = payees["hire"].to_numpy() >= co.START_DAY
    for module in ("TRN-ONB-01", "TRN-ONB-02", "TRN-ONB-03"):
        who = payees[(role == "rep") & new_hire]
        parts.append(pd.DataFrame({"payee": who["payee"], "module_id": module, "assigned": who["hire"],
                                   "due": who["hire"] + 30, "reason": "onboarding"}))
    who = payees[(role == "manager") & new_hire]
    parts.append(pd.DataFrame({"payee": who["payee"], "module_id": "TRN-MGR-01", "assigned": who["hire"],
                               "due": who["hire"] + 30, "reason": "onboarding"}))
    for year in co.FISCAL_YEARS:
        d = co.day(f"{year}-02-01")
        who = payees[_active_on(payees, d)]
        parts.append(pd.DataFrame({"payee": who["payee"], "module_id": "TRN-CMP-01", "assigned": d,
                                   "due": co.day(f"{year}-03-31"), "reason": "compliance"}))
    d = co.day("2024-03-01")
    who = payees[(role == "overlay") & _active_on(payees, d)]
    parts.append(pd.DataFrame({"payee": who["payee"], "module_id": "TRN-OVL-01", "assigned": d,
                               "due": d + 60, "reason": "role: overlay"}))
    d = co.day("2024-06-03")
    who = payees[(role == "manager") & _active_on(payees, d)]
    parts.append(pd.DataFrame({"payee": who["payee"], "module_id": "TRN-MGR-02", "assigned": d,
                               "due": d + 30, "reason": "role: manager"}))
    already: set[int] = set()
    for when in co.NEGOTIATION_ASSIGN_DATES:
        d = co.day(when)
        on = stints[(stints["start"] <= d) & (d < stints["end"])]
        on = on[~on["payee"].isin(already)]
        rank = on.groupby("segment")["skill"].rank(pct=True, method="first")
        picked = on[rank <= co.NEGOTIATION_ASSIGN_SHARE]["payee"].to_numpy()
        already.update(picked.tolist())
        for module in ("TRN-NEG-01", "TRN-NEG-02"):
            parts.append(pd.DataFrame({"payee": picked, "module_id": module, "assigned": d,
                                       "due": d + 45, "reason": "kpi gap: win rate"}))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["assigned", "payee", "module_id"], kind="stable").reset_index(drop=True)


def completions(rng: np.random.Generator, assigned: pd.DataFrame, payees: pd.DataFrame) -> pd.DataFrame:
    """Completions of ``assigned`` (payee index, module, completed_at in seconds, score)."""
    n = len(assigned)
    prob = assigned["reason"].map({k: v[0] for k, v in _COMPLETION.items()}).to_numpy(dtype=float)
    median = assigned["reason"].map({k: v[1] for k, v in _COMPLETION.items()}).to_numpy(dtype=float)
    done = rng.random(n) < prob
    days = np.floor(median * np.exp(rng.normal(0.0, 0.6, n))).astype(np.int64)
    seconds = rng.integers(8 * 3600, 19 * 3600, n)
    when = assigned["assigned"].to_numpy() + days
    term = payees["term"].to_numpy()[assigned["payee"].to_numpy()]
    employed = (term < 0) | (when <= term)
    keep = done & (when <= co.AS_OF_DAY) & employed
    formats = dict((m[0], m[3]) for m in MODULES)
    scored = assigned["module_id"].map(formats).isin(_SCORED_FORMATS).to_numpy()
    score = np.where(scored, np.round(6000 + 4000 * rng.beta(5.0, 2.0, n)), -1).astype(np.int64)
    out = pd.DataFrame({"payee": assigned["payee"].to_numpy(), "module_id": assigned["module_id"].to_numpy(),
                        "day": when, "completed_at": when * 86400 + seconds, "score": score})
    return out[keep].reset_index(drop=True)


def negotiation_done(payees: pd.DataFrame, done: pd.DataFrame) -> np.ndarray:
    """Per payee index, the day they completed the negotiation module (``NO_END`` if never)."""
    out = np.full(len(payees), NO_END, dtype=np.int64)
    neg = done[done["module_id"] == co.NEGOTIATION_MODULE]
    out[neg["payee"].to_numpy()] = neg["day"].to_numpy()
    return out


def training_tables(rng: np.random.Generator, chunk: int, payees: pd.DataFrame,
                    stints: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any], np.ndarray]:
    """(training_assignments, training_completions, negotiation completion day per payee)."""
    assigned = assignments(payees, stints)
    done = completions(rng, assigned, payees)
    pid = payees["payee_id"].to_numpy()
    assignments_out = {
        "assignment_id": ids("TA", chunk, np.arange(1, len(assigned) + 1), 6),
        "payee_id": pid[assigned["payee"].to_numpy()],
        "module_id": assigned["module_id"].to_numpy(),
        "assigned_date": assigned["assigned"].to_numpy(),
        "due_date": assigned["due"].to_numpy(),
        "reason": assigned["reason"].to_numpy(),
    }
    completions_out = {
        "payee_id": pid[done["payee"].to_numpy()],
        "module_id": done["module_id"].to_numpy(),
        "completed_at": done["completed_at"].to_numpy(),
        "score": done["score"].where(done["score"] >= 0).astype("Int64"),
    }
    return assignments_out, completions_out, negotiation_done(payees, done)
