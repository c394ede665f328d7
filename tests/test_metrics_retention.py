"""Logo and net revenue retention beyond the hand-worked company's own subscriptions: a
customer that leaves and comes back within the window, a renewal that starts the day after
the old subscription ends, and amounts so large that their conversion (cents x rate x 10^8)
overflows 64-bit integers (computed exactly with Python integers instead).

Added to the company of ``tests/test_metrics_company.py`` (EUR converts at 1.10, the rate
of 2026-07-01, the first day of 2026-Q3):

====  =======  =====  =======  ==========  ==========  ==============================
sub   account  owner  product  start       end         ARR
====  =======  =====  =======  ==========  ==========  ==============================
S6    A2       R1     A        2026-01-01  2026-07-15  USD 1,000
S7    A2       R1     A        2026-08-01  -           USD 1,500 (back after 16 days)
S8    A4       R3     B        2025-07-01  2026-07-31  EUR 100
S9    A4       R3     B        2026-08-01  2027-07-31  EUR 200 (renewal, the next day)
S10   A6       R3     C        2026-01-01  -           EUR 900,000,000,000
S11   A6       R3     C        2026-02-01  -           EUR 900,000,000,000
====  =======  =====  =======  ==========  ==========  ==============================
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from spm_kernel.workspace import Workspace
from tests.test_metrics_builtin import row, value
from tests.test_metrics_company import Q3, build

D = Decimal
HUGE = "900000000000.00"
METRICS = ["logo_retention", "net_revenue_retention"]


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = build(tmp_path_factory.mktemp("retention") / "ws")
    ws.load("subscriptions", pd.DataFrame([
        ("S6", "A2", "A", "2026-01-01", "2026-07-15", "1000.00", "USD"),
        ("S7", "A2", "A", "2026-08-01", None, "1500.00", "USD"),
        ("S8", "A4", "B", "2025-07-01", "2026-07-31", "100.00", "EUR"),
        ("S9", "A4", "B", "2026-08-01", "2027-07-31", "200.00", "EUR"),
        ("S10", "A6", "C", "2026-01-01", None, HUGE, "EUR"),
        ("S11", "A6", "C", "2026-02-01", None, HUGE, "EUR"),
    ], columns=["subscription_id", "account_id", "product", "start_date", "end_date", "arr", "currency"]))
    yield ws
    ws.close()


def test_a_customer_back_within_the_window_is_kept(company: Workspace) -> None:
    by_payee = company.metrics(METRICS, by="payee", period=Q3)
    # R1 on 07-01: A8 (S2) and A2 (S6; A9 left in June); on 09-30 A8 and A2 again (S7): both kept,
    # A2 with S7's ARR. Start 5,000 + 1,000; end 5,000 + 2,000 (S3) + 1,500 (S7)
    logo = row(by_payee, "logo_retention", "R1")
    assert (logo["numerator"], logo["denominator"]) == (2, 2)
    nrr = row(by_payee, "net_revenue_retention", "R1")
    assert (nrr["numerator"], nrr["denominator"]) == (D("8500.00"), D("6000.00"))
    # by month: A2 is gone on 07-31 (not kept in July: A8's 5,000 is all that is left), and
    # back on 08-01 (a customer of August with S7, kept)
    months = company.metrics(METRICS, by="payee", period=Q3, freq="month")
    assert value(months, "logo_retention", "R1", "2026-07") == 0.5
    july = row(months, "net_revenue_retention", "R1", "2026-07")
    assert (july["numerator"], july["denominator"]) == (D("5000.00"), D("6000.00"))
    assert value(months, "logo_retention", "R1", "2026-08") == 1.0
    august = row(months, "net_revenue_retention", "R1", "2026-08")
    assert (august["numerator"], august["denominator"]) == (D("8500.00"), D("8500.00"))


def test_renewals_and_amounts_past_64_bits(company: Workspace) -> None:
    by_payee = company.metrics(METRICS, by="payee", period=Q3)
    # R3 on 07-01: A5 (S1), A10 (S5), A4 (S8) and A6 (S10, S11); on 09-30 A5 is gone (08-31),
    # A4 renewed the day after S8 ended, A6 and A10 stay
    logo = row(by_payee, "logo_retention", "R3")
    assert (logo["numerator"], logo["denominator"]) == (3, 4)
    # start: 1,000 + 2,000 + 100 + 2 x 900e9 EUR at 1.10 = 1,980,000,003,410;
    # end: A10 2,200 + A4's renewal 200 x 1.10 = 220 + A6 1,980,000,000,000
    nrr = row(by_payee, "net_revenue_retention", "R3")
    assert nrr["denominator"] == D("1980000003410.00")
    assert nrr["numerator"] == D("1980000002420.00")
    by_product = company.metrics(METRICS, by="product", period=Q3)
    # A: A5, A8, A10, A3 at the start; A5 churned: 3 of 4; B: A4 renewed; C: A6
    assert value(by_product, "logo_retention", "A") == 0.75
    assert value(by_product, "logo_retention", "B") == 1.0
    assert row(by_product, "net_revenue_retention", "B")["numerator"] == D("220.00")
    assert row(by_product, "net_revenue_retention", "C")["numerator"] == D("1980000000000.00")
