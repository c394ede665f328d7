"""Company-wide demo tables that do not belong to one division: daily FX rates and
monthly sales and marketing spend."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spm_kernel.demo import company as co
from spm_kernel.demo.util import cents, month_of, month_starts, weekday


def fx_rates(rng: np.random.Generator) -> pd.DataFrame:
    """Every calendar day from START to AS_OF, every ordered pair of USD, EUR and GBP.

    EUR/USD and GBP/USD follow independent log random walks on business days (weekends and
    1 January keep the previous business day's rate); the other pairs are derived from them.
    Each rate is rounded to :data:`~.company.FX_DECIMALS` places, so it is an exact decimal;
    ``rate`` is returned as an integer in units of 1e-8 (the column is DECIMAL(18,8)).
    """
    days = np.arange(co.START_DAY, co.AS_OF_DAY + 1)
    business = weekday(days) < 5
    steps = np.where(business[:, None], rng.normal(0.0, co.FX_DAILY_SIGMA, (len(days), 2)), 0.0)
    steps[0] = 0.0
    walk = np.exp(np.cumsum(steps, axis=0))
    eur_usd = co.FX_START["EUR"] * walk[:, 0]
    gbp_usd = co.FX_START["GBP"] * walk[:, 1]
    usd = {"USD": np.ones(len(days)), "EUR": eur_usd, "GBP": gbp_usd}
    frames = []
    for src in co.CURRENCIES:  # 3 x 2 currency pairs, not rows
        for dst in co.CURRENCIES:
            if src == dst:
                continue
            rate = usd[src] / usd[dst]
            micro = np.floor(rate * 10**co.FX_DECIMALS + 0.5).astype(np.int64)
            frames.append(pd.DataFrame({"rate_date": days, "from_currency": src, "to_currency": dst,
                                        "rate": micro * 10 ** (8 - co.FX_DECIMALS)}))
    return pd.concat(frames, ignore_index=True).sort_values(
        ["rate_date", "from_currency", "to_currency"], kind="stable").reset_index(drop=True)


def spend(rng: np.random.Generator, scale: int) -> pd.DataFrame:
    """Monthly spend per category and channel in USD, proportional to the company's size."""
    months = month_starts(co.START_DAY, co.AS_OF_DAY)
    frames = []
    season_of = month_of(months) - 1
    growth = (1 + co.GROWTH_PER_YEAR) ** ((months - co.START_DAY) / 365.25)
    for category, channel, base, season in co.SPEND_CHANNELS:  # nine channels, not rows
        shape = np.asarray(season)[season_of] if season is not None else np.ones(len(months))
        noise = np.exp(rng.normal(0.0, 0.07, len(months)))
        frames.append(pd.DataFrame({"month": months, "category": category, "channel": channel,
                                    "amount": cents(base * scale * shape * growth * noise),
                                    "currency": co.BASE_CURRENCY}))
    return pd.concat(frames, ignore_index=True)
