"""The fixed description of the demo company, Northwind Analytics: calendar, regions,
segments, products and every rate the generator draws from.

Nothing here is random; :mod:`spm_kernel.demo.generator` turns these parameters into data.
Segment-indexed tuples are in the order of :data:`SEGMENTS` (SMB, Mid-Market, Enterprise).
Money parameters are in USD and are converted to a region's currency at
:data:`BUDGET_RATES` (the planning rates a finance team fixes for the year).
"""

from __future__ import annotations

from datetime import date

import numpy as np

COMPANY_NAME = "Northwind Analytics"
BASE_CURRENCY = "USD"
SOURCE = "spm demo"

# ---- calendar: fixed fiscal years, so the output is the same on every machine and day ----
FISCAL_YEARS = (2024, 2025, 2026)
START = date(2024, 1, 1)          # first day of the data (FX, bookings, spend, quotas)
AS_OF = date(2026, 12, 31)        # "today" in the demo: the last day of FY2026
PIPELINE_START = date(2023, 10, 1)  # opportunities created from here, so 2024 opens with pipeline
EPOCH = np.datetime64("1970-01-01", "D")


def day(d: date | str) -> int:
    """Days since 1970-01-01 (the generator works in integer days)."""
    return int((np.datetime64(d, "D") - EPOCH).astype(np.int64))


START_DAY, AS_OF_DAY, PIPELINE_DAY = day(START), day(AS_OF), day(PIPELINE_START)

# ---- organisation ----
# (region_id, name, currency); the unit of scale is a "division": one regional unit per region.
REGIONS: tuple[tuple[str, str, str], ...] = (
    ("NAE", "North America East", "USD"),
    ("NAW", "North America West", "USD"),
    ("UKI", "UK & Ireland", "GBP"),
    ("EUC", "Continental Europe", "EUR"),
)
SEGMENTS: tuple[tuple[str, str], ...] = (("SMB", "SMB"), ("MM", "Mid-Market"), ("ENT", "Enterprise"))
BUDGET_RATES = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27}  # 1 unit = this many USD (planning rates)
CURRENCIES = ("USD", "EUR", "GBP")

SEATS = (10, 9, 8)                 # rep seats per team at the start of FY2024
GROWTH_SEATS = 1                   # seats each team opens during the three years
RAMP_MONTHS = (3, 6, 9)            # months until a new hire reaches full productivity
ANNUAL_ATTRITION = 0.16            # leaving hazard per year for a rep of average skill
SKILL_SIGMA = 0.28                 # rep skill ~ lognormal(0, SKILL_SIGMA)
REPLACEMENT_GAP_DAYS = (21, 100)   # a vacated seat is refilled after this many days
MAX_OCCUPANTS = 5                  # occupants per seat over the data range (bounded loop)
OVERLAY_PRODUCTS = ("AI Insights", "Data Pipelines")  # one overlay specialist per product per unit

# ---- selling ----
PRODUCTS = ("Analytics Cloud", "Data Pipelines", "AI Insights", "Governance Suite")
PRODUCT_PRICE = (1.0, 0.8, 1.3, 0.9)
PRODUCT_MIX = ((0.55, 0.2, 0.17, 0.08), (0.4, 0.25, 0.2, 0.15), (0.3, 0.25, 0.25, 0.2))
NEW_OPPS_PER_MONTH = (6.0, 3.5, 1.6)     # a ramped rep of average skill, before seasonality
EXPANSION_OPPS_PER_MONTH = (0.8, 0.8, 0.6)
GROWTH_PER_YEAR = 0.08                    # demand grows this much a year
SEASONALITY = (0.85, 0.95, 1.05, 1.0, 1.05, 1.05, 0.85, 0.75, 1.05, 1.15, 1.1, 0.9)  # Jan..Dec
WIN_NEW = (0.26, 0.21, 0.18)
WIN_EXPANSION = (0.32, 0.30, 0.28)
RENEWAL_RATE = (0.82, 0.88, 0.93)
AUTO_RENEW = (True, False, False)  # SMB terms renew by themselves: no renewal opportunity
DEAL_MEDIAN_USD = (8_000.0, 40_000.0, 150_000.0)  # annual contract value of a new deal
DEAL_SIGMA = (0.6, 0.7, 0.8)
EXPANSION_SIZE = 0.35              # an expansion is this share of a new deal's size
RENEWAL_UPLIFT = (1.04, 0.09)      # renewal ARR = ARR x lognormal(median, sigma)
CYCLE_MEDIAN_DAYS = (21.0, 55.0, 110.0)
CYCLE_SIGMA = 0.5
QUARTER_END_PUSH = 0.35            # share of won deals pulled into the last 15 days of a quarter
RENEWAL_LEAD_DAYS = (60, 90, 120)  # a renewal opportunity opens this long before the term ends
OPEN_STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation")
WON, LOST = "Closed Won", "Closed Lost"
LOST_AT_STAGE = (0.35, 0.3, 0.2, 0.15)  # the last open stage a lost deal reached
EXISTING_CUSTOMERS_PER_SEAT = (17, 20, 12)
PROSPECTS_PER_SEAT = (300, 120, 50)
POTENTIAL_MULTIPLE = 3.0           # account potential ~ this many deals' worth
INDUSTRIES = ("Manufacturing", "Retail", "Financial Services", "Healthcare", "Software",
              "Logistics", "Energy", "Public Sector", "Media", "Education")

# ---- splits, billing, cancellations ----
SPLIT_SHARE = 0.10                 # share of won new/expansion deals with a revenue split
SPLIT_PERCENTS = ((50, 50), (60, 40), (70, 30), (80, 20))
BILLING_COUNTS = (12, 4, 1)        # invoices per annual term: monthly, quarterly, annual
BILLING_MIX = ((1.0, 0.0, 0.0), (0.45, 0.45, 0.10), (0.0, 0.4, 0.6))
CANCEL_SHARE = 0.03                # won new/expansion deals cancelled within 75 days
CANCEL_DAYS = (7, 75)
PAYMENT_DAYS = (26.0, 0.35)        # lognormal(median, sigma) days from invoice to payment
UNPAID_SHARE = 0.02
REFUND_SHARE = 0.01
REFUND_DAYS = (3, 45)

# ---- quotas (bookings incl. renewals, USD, per ramped rep, per fiscal year) ----
# calibrated so that the median rep attains about 95%
QUOTA_USD = ((200_000.0, 210_000.0, 225_000.0), (1_690_000.0, 2_000_000.0, 2_300_000.0),
             (4_100_000.0, 4_900_000.0, 5_500_000.0))
QUOTA_QUARTER_WEIGHTS = (0.22, 0.24, 0.25, 0.29)
QUOTA_TERRITORY_SIGMA = 0.08
MANAGER_OVERASSIGNMENT = 0.95      # a manager's quota is this share of their reps' quotas
OVERLAY_QUOTA_SHARE = 0.9          # an overlay's quota: this share of last year's product bookings

# ---- training: a known injected effect, so the training model can be checked ----
NEGOTIATION_MODULE = "TRN-NEG-01"
TRAINING_EFFECT = 0.15             # win probability x (1 + effect) on deals created after completion
NEGOTIATION_ASSIGN_DATES = (date(2025, 1, 15), date(2026, 1, 15))
NEGOTIATION_ASSIGN_SHARE = 0.25    # reps assigned: the lowest-skill quarter of each segment

# ---- spend (USD per month at scale 1, growing GROWTH_PER_YEAR a year) ----
SPEND_CHANNELS: tuple[tuple[str, str, float, tuple[float, ...] | None], ...] = (
    ("marketing", "paid_search", 62_000.0, None),
    ("marketing", "paid_social", 34_000.0, None),
    ("marketing", "events", 40_000.0, (0.4, 0.6, 2.2, 0.8, 0.9, 1.8, 0.3, 0.2, 1.2, 2.4, 1.0, 0.2)),
    ("marketing", "content", 18_000.0, None),
    ("marketing", "partner_programs", 24_000.0, None),
    ("sales", "sdr_team", 118_000.0, None),
    ("sales", "sales_tools", 29_000.0, None),
    ("sales", "travel", 41_000.0, (0.8, 1.0, 1.1, 1.0, 1.1, 1.0, 0.7, 0.5, 1.1, 1.3, 1.2, 0.6)),
    ("sales", "enablement", 14_000.0, (1.8, 1.0, 0.8, 0.8, 0.9, 0.8, 0.8, 0.8, 1.0, 0.9, 0.8, 0.6)),
)

# ---- FX: daily log random walks on business days (weekends keep Friday's rate) ----
FX_START = {"EUR": 1.095, "GBP": 1.268}   # USD per unit on 2024-01-01
FX_DAILY_SIGMA = 0.0045
FX_DECIMALS = 6

# ---- people's names (first x last gives plenty of distinct names) ----
FIRST_NAMES = (
    "Ada", "Adrian", "Aisha", "Alex", "Amara", "Amelia", "Ana", "Andre", "Anika", "Ben", "Bianca",
    "Carlos", "Chen", "Chloe", "Daniel", "Dara", "David", "Elena", "Elif", "Emma", "Erik", "Farah",
    "Felix", "Fiona", "Gabriel", "Grace", "Hana", "Hugo", "Ines", "Isaac", "Ivy", "Jack", "Jamal",
    "Javier", "Jonas", "Julia", "Kai", "Kenji", "Lara", "Leo", "Lina", "Lucas", "Maya", "Mateo",
    "Mia", "Nadia", "Noah", "Nora", "Oliver", "Omar", "Paula", "Priya", "Rafael", "Rosa", "Sam",
    "Sara", "Sofia", "Tariq", "Theo", "Uma", "Victor", "Wei", "Yara", "Yusuf", "Zoe",
)
LAST_NAMES = (
    "Abbott", "Adeyemi", "Alvarez", "Andersen", "Bauer", "Becker", "Bennett", "Brooks", "Carter",
    "Chen", "Costa", "Dubois", "Duarte", "Eriksson", "Evans", "Fischer", "Fontaine", "Garcia",
    "Greene", "Hansen", "Hayes", "Ito", "Jansen", "Kapoor", "Keller", "Khan", "Kowalski", "Larsen",
    "Laurent", "Lopez", "Martin", "Meyer", "Moreau", "Murphy", "Nakamura", "Novak", "Okafor",
    "O'Brien", "Patel", "Petrov", "Quinn", "Ramos", "Rossi", "Sato", "Schmidt", "Silva", "Singh",
    "Sousa", "Svensson", "Tanaka", "Taylor", "Novotny", "Vargas", "Walsh", "Weber", "Wright",
    "Yilmaz", "Young", "Zhang", "Zimmer",
)
COMPANY_WORDS = (
    "Acme", "Apex", "Atlas", "Aurora", "Beacon", "Birch", "Blue", "Bright", "Cedar", "Clear",
    "Cobalt", "Copper", "Crest", "Delta", "Echo", "Ember", "Evergreen", "Falcon", "Fern", "Granite",
    "Harbor", "Helix", "Horizon", "Iron", "Juniper", "Keystone", "Lumen", "Maple", "Meridian",
    "Nimbus", "North", "Oak", "Orbit", "Pine", "Pioneer", "Prism", "Quartz", "Redwood", "River",
    "Sage", "Silver", "Summit", "Terra", "Tidal", "Vertex", "Vista", "West", "Willow", "Zenith",
)
COMPANY_NOUNS = ("Logistics", "Foods", "Health", "Systems", "Labs", "Energy", "Retail", "Capital",
                 "Motors", "Media", "Works", "Partners", "Pharma", "Bank", "Textiles", "Robotics")
COMPANY_SUFFIX = {"USD": ("Inc.", "LLC", "Corp."), "GBP": ("Ltd", "plc", "Group"),
                  "EUR": ("GmbH", "SA", "BV", "SpA")}
