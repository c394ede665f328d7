"""The canonical tables: their columns, types, keys and the rules an import must satisfy.

This module describes the *current* shape of every table. The SQL files in
``store/migrations/`` are the history that produces that shape in a database; a test
checks that a freshly migrated database matches these specs column by column, so the two
cannot drift.

Money is ``DECIMAL(18,2)``; rates and shares are ``DECIMAL(18,6)``; FX rates
``DECIMAL(18,8)``. No money column is ever ``DOUBLE``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MONEY = "DECIMAL(18,2)"
SHARE = "DECIMAL(18,6)"
FX_RATE = "DECIMAL(18,8)"

CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF", "SEK", "INR", "BRL")


@dataclass(frozen=True)
class Column:
    """One column of a canonical table and the rules an imported value must satisfy."""

    name: str
    type: str
    required: bool = False
    key: bool = False
    choices: tuple[str, ...] | None = None
    min_value: int | None = None
    references: str | None = None  # "table.column": every value must exist there
    description: str = ""

    @property
    def is_money(self) -> bool:
        return self.type == MONEY

    @property
    def decimal_scale(self) -> int | None:
        if not self.type.startswith("DECIMAL("):
            return None
        return int(self.type.rstrip(")").split(",")[1])


@dataclass(frozen=True)
class TableSpec:
    """A canonical table. ``importable`` tables accept ``ws.load``; the others are owned by
    the engine (runs, ledger, audit) and are written only through its APIs."""

    name: str
    description: str
    columns: tuple[Column, ...]
    importable: bool = True
    date_columns_for_range: tuple[str, ...] = field(default=())

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.key)

    @property
    def sort_key(self) -> tuple[str, ...]:
        """The columns rows are listed in: the key, or the first column of a table without one
        (the credits ledger, ordered by its sequence number ``credit_no``)."""
        return self.key or (self.columns[0].name,)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def C(name: str, type_: str, **kw: object) -> Column:  # noqa: N802 - terse table definitions
    return Column(name, type_, **kw)  # type: ignore[arg-type]


# Columns every importable table carries, filled by the importer: where the row came from.
LINEAGE = (
    C("source", "VARCHAR", required=True, description="where the row came from (file name, CRM)"),
    C("source_id", "VARCHAR", required=True, description="the row's id in its source"),
    C("loaded_at", "TIMESTAMP", required=True, description="when the row was last written"),
)

TABLES: tuple[TableSpec, ...] = (
    TableSpec("regions", "Sales regions.", (
        C("region_id", "VARCHAR", required=True, key=True),
        C("name", "VARCHAR", required=True),
        *LINEAGE,
    )),
    TableSpec("teams", "Sales teams, each in one region.", (
        C("team_id", "VARCHAR", required=True, key=True),
        C("name", "VARCHAR", required=True),
        C("region_id", "VARCHAR", required=True, references="regions.region_id"),
        *LINEAGE,
    )),
    TableSpec("payees", "People who can be paid: reps, managers, overlay specialists.", (
        C("payee_id", "VARCHAR", required=True, key=True),
        C("name", "VARCHAR", required=True),
        C("email", "VARCHAR"),
        C("role", "VARCHAR", required=True,
          choices=("vp", "director", "manager", "rep", "overlay", "analyst")),
        C("team_id", "VARCHAR", references="teams.team_id"),
        C("region_id", "VARCHAR", references="regions.region_id"),
        C("segment", "VARCHAR"),
        C("currency", "VARCHAR", required=True, choices=CURRENCIES),
        C("hire_date", "DATE", required=True),
        C("termination_date", "DATE"),
        *LINEAGE,
    ), date_columns_for_range=("hire_date",)),
    TableSpec("hierarchy", "Effective-dated reporting lines: payee reports to manager from valid_from "
              "until the day before valid_to (open when null).", (
        C("payee_id", "VARCHAR", required=True, key=True, references="payees.payee_id"),
        C("valid_from", "DATE", required=True, key=True),
        C("valid_to", "DATE"),
        C("manager_id", "VARCHAR", references="payees.payee_id"),
        *LINEAGE,
    ), date_columns_for_range=("valid_from",)),
    TableSpec("accounts", "Customer accounts.", (
        C("account_id", "VARCHAR", required=True, key=True),
        C("name", "VARCHAR", required=True),
        C("segment", "VARCHAR"),
        C("region_id", "VARCHAR", references="regions.region_id"),
        C("industry", "VARCHAR"),
        C("owner_id", "VARCHAR", references="payees.payee_id"),
        C("potential", MONEY, min_value=0, description="estimated annual revenue potential"),
        C("currency", "VARCHAR", choices=CURRENCIES),
        *LINEAGE,
    )),
    TableSpec("opportunities", "Deals from the CRM.", (
        C("opportunity_id", "VARCHAR", required=True, key=True),
        C("account_id", "VARCHAR", references="accounts.account_id"),
        C("owner_id", "VARCHAR", required=True, references="payees.payee_id"),
        C("name", "VARCHAR"),
        C("amount", MONEY, required=True),
        C("currency", "VARCHAR", required=True, choices=CURRENCIES),
        C("stage", "VARCHAR", required=True),
        C("created_date", "DATE", required=True),
        C("close_date", "DATE"),
        C("is_closed", "BOOLEAN", required=True),
        C("is_won", "BOOLEAN", required=True),
        C("product", "VARCHAR"),
        C("segment", "VARCHAR"),
        C("deal_type", "VARCHAR", choices=("new", "expansion", "renewal")),
        *LINEAGE,
    ), date_columns_for_range=("created_date", "close_date")),
    TableSpec("opportunity_stage_history", "Each stage an opportunity entered, and when.", (
        C("opportunity_id", "VARCHAR", required=True, key=True,
          references="opportunities.opportunity_id"),
        C("stage", "VARCHAR", required=True, key=True),
        C("entered_date", "DATE", required=True, key=True),
        *LINEAGE,
    ), date_columns_for_range=("entered_date",)),
    TableSpec("opportunity_splits", "Revenue splits (sum to exactly 100% per deal) and overlay "
              "credit (labelled, may exceed 100%).", (
        C("opportunity_id", "VARCHAR", required=True, key=True,
          references="opportunities.opportunity_id"),
        C("payee_id", "VARCHAR", required=True, key=True, references="payees.payee_id"),
        C("split_type", "VARCHAR", required=True, key=True, choices=("revenue", "overlay")),
        C("percent", SHARE, required=True, min_value=0),
        *LINEAGE,
    )),
    TableSpec("transactions", "Credited business events: bookings, invoices, payments, and "
              "cancellations/refunds as negative amounts.", (
        C("transaction_id", "VARCHAR", required=True, key=True),
        C("opportunity_id", "VARCHAR", references="opportunities.opportunity_id"),
        C("kind", "VARCHAR", required=True,
          choices=("booking", "invoice", "payment", "cancellation", "refund")),
        C("amount", MONEY, required=True),
        C("currency", "VARCHAR", required=True, choices=CURRENCIES),
        C("transaction_date", "DATE", required=True),
        C("product", "VARCHAR"),
        C("segment", "VARCHAR"),
        C("region_id", "VARCHAR", references="regions.region_id"),
        C("original_transaction_id", "VARCHAR",
          description="for a cancellation or refund, the transaction it reverses"),
        *LINEAGE,
    ), date_columns_for_range=("transaction_date",)),
    TableSpec("quotas", "Targets per payee, measure and period (effective-dated by the period).", (
        C("payee_id", "VARCHAR", required=True, key=True, references="payees.payee_id"),
        C("measure", "VARCHAR", required=True, key=True),
        C("period_start", "DATE", required=True, key=True),
        C("period_end", "DATE", required=True),
        C("amount", MONEY, required=True, min_value=0),
        C("currency", "VARCHAR", required=True, choices=CURRENCIES),
        *LINEAGE,
    ), date_columns_for_range=("period_start",)),
    TableSpec("fx_rates", "Daily FX: 1 unit of from_currency = rate units of to_currency.", (
        C("rate_date", "DATE", required=True, key=True),
        C("from_currency", "VARCHAR", required=True, key=True, choices=CURRENCIES),
        C("to_currency", "VARCHAR", required=True, key=True, choices=CURRENCIES),
        C("rate", FX_RATE, required=True, min_value=0),
        *LINEAGE,
    ), date_columns_for_range=("rate_date",)),
    TableSpec("spend", "Sales and marketing spend per month and channel (for CAC).", (
        C("month", "DATE", required=True, key=True),
        C("category", "VARCHAR", required=True, key=True, choices=("sales", "marketing")),
        C("channel", "VARCHAR", required=True, key=True),
        C("amount", MONEY, required=True, min_value=0),
        C("currency", "VARCHAR", required=True, choices=CURRENCIES),
        *LINEAGE,
    ), date_columns_for_range=("month",)),
    TableSpec("subscriptions", "Recurring revenue per account (for logo and net revenue retention).", (
        C("subscription_id", "VARCHAR", required=True, key=True),
        C("account_id", "VARCHAR", required=True, references="accounts.account_id"),
        C("product", "VARCHAR"),
        C("start_date", "DATE", required=True),
        C("end_date", "DATE"),
        C("arr", MONEY, required=True, min_value=0),
        C("currency", "VARCHAR", required=True, choices=CURRENCIES),
        *LINEAGE,
    ), date_columns_for_range=("start_date",)),
    TableSpec("plans", "Registered plan versions (the plan files themselves live in plans/).", (
        C("plan_id", "VARCHAR", required=True, key=True),
        C("version", "INTEGER", required=True, key=True, min_value=1),
        C("name", "VARCHAR", required=True),
        C("effective_from", "DATE", required=True),
        C("effective_to", "DATE"),
        C("file", "VARCHAR", required=True),
        C("content_hash", "VARCHAR", required=True),
        *LINEAGE,
    )),
    TableSpec("plan_assignments", "Which plan applies to whom: by payee id, role or team.", (
        C("assignment_id", "VARCHAR", required=True, key=True),
        C("plan_id", "VARCHAR", required=True),
        C("assignee_type", "VARCHAR", required=True, choices=("payee", "role", "team")),
        C("assignee", "VARCHAR", required=True),
        C("effective_from", "DATE", required=True),
        C("effective_to", "DATE"),
        C("target_incentive", MONEY, min_value=0),
        *LINEAGE,
    )),
    TableSpec("training_modules", "Training catalogue.", (
        C("module_id", "VARCHAR", required=True, key=True),
        C("title", "VARCHAR", required=True),
        C("skill", "VARCHAR", required=True),
        C("format", "VARCHAR", required=True,
          choices=("video", "workshop", "elearning", "reading", "coaching")),
        C("duration_minutes", "INTEGER", required=True, min_value=0),
        C("content", "VARCHAR", description="Markdown content"),
        C("link", "VARCHAR"),
        *LINEAGE,
    )),
    TableSpec("training_assignments", "Modules assigned to payees, by role or by a KPI gap.", (
        C("assignment_id", "VARCHAR", required=True, key=True),
        C("payee_id", "VARCHAR", required=True, references="payees.payee_id"),
        C("module_id", "VARCHAR", required=True, references="training_modules.module_id"),
        C("assigned_date", "DATE", required=True),
        C("due_date", "DATE"),
        C("reason", "VARCHAR"),
        *LINEAGE,
    ), date_columns_for_range=("assigned_date",)),
    TableSpec("training_completions", "Completed modules (from an LMS export or the app).", (
        C("payee_id", "VARCHAR", required=True, key=True, references="payees.payee_id"),
        C("module_id", "VARCHAR", required=True, key=True,
          references="training_modules.module_id"),
        C("completed_at", "TIMESTAMP", required=True, key=True),
        C("score", "DECIMAL(5,2)", min_value=0),
        *LINEAGE,
    ), date_columns_for_range=("completed_at",)),
    # ---- engine-owned tables: written by the engine's APIs, never by ws.load ----
    TableSpec("periods", "Fiscal periods (month, fiscal quarter, fiscal year; start and end "
              "inclusive) and whether they are closed.", (
        C("period_id", "VARCHAR", required=True, key=True),
        C("kind", "VARCHAR", required=True, choices=("month", "quarter", "year")),
        C("start_date", "DATE", required=True),
        C("end_date", "DATE", required=True),
        C("status", "VARCHAR", required=True, choices=("open", "closed")),
        C("closed_at", "TIMESTAMP"),
        C("closed_by", "VARCHAR"),
        C("closed_run_id", "VARCHAR", description="the run whose results the close froze"),
    ), importable=False),
    TableSpec("credits", "Shares of transactions credited to payees, each with the rule that made it, "
              "converted to the payee's currency: the credits dated in a run's period (and in the closed "
              "periods it restated). The transaction's other attributes are in transactions.", (
        C("credit_no", "BIGINT", required=True,
          description="ledger sequence number, unique across runs (by construction: the ledger is "
          "append-only and has no index to maintain)"),
        C("run_id", "VARCHAR", required=True),
        C("credit_id", "VARCHAR", required=True, description="stable across runs: transaction/payee/type[/detail]; "
          "unique within a run (generated from those columns when read, not stored)"),
        C("transaction_id", "VARCHAR", required=True),
        C("payee_id", "VARCHAR", required=True),
        C("credit_type", "VARCHAR", required=True,
          choices=("direct", "split", "overlay", "rollup", "rule")),
        C("rule", "VARCHAR", required=True, description="owner, revenue_split, overlay_split, "
          "rule:<rule_id> or hierarchy"),
        C("rollup_level", "INTEGER", required=True, description="0, or 1 for the direct manager, ..."),
        C("source_payee_id", "VARCHAR", description="for a roll-up, whose credit rolled up"),
        C("share", SHARE, required=True, description="percent of the transaction (100 = all)"),
        C("amount", MONEY, required=True, description="in the payee's currency"),
        C("currency", "VARCHAR", required=True),
        C("source_amount", MONEY, required=True, description="in the transaction's currency"),
        C("source_currency", "VARCHAR", required=True),
        C("fx_rate", FX_RATE, required=True, description="the rate applied (1 when no conversion)"),
        C("fx_quote", "VARCHAR", description="which quote: 'EUR->USD 2026-01-15' (an inverse "
          "quote is divided by)"),
        C("credit_date", "DATE", required=True),
        C("kind", "VARCHAR", required=True, description="the transaction's kind (a cancellation is negative)"),
    ), importable=False, date_columns_for_range=("credit_date",)),
    TableSpec("calc_runs", "Calculation runs: immutable values (inputs hash, plan versions, status).", (
        C("run_id", "VARCHAR", required=True, key=True),
        C("period_id", "VARCHAR", required=True),
        C("started_at", "TIMESTAMP", required=True),
        C("finished_at", "TIMESTAMP"),
        C("status", "VARCHAR", required=True, choices=("running", "succeeded", "failed")),
        C("input_hash", "VARCHAR"),
        C("plan_versions", "VARCHAR", description="JSON"),
        C("timings", "VARCHAR", description="JSON"),
        C("created_by", "VARCHAR"),
        C("credit_count", "BIGINT"),
        C("line_count", "BIGINT"),
        C("restated", "VARCHAR", description="JSON: closed periods recomputed, with their input hash"),
        C("error", "VARCHAR", description="why a failed run failed (it wrote nothing else)"),
    ), importable=False),
    TableSpec("payout_lines", "What one component earns one payee in one period, with its explanation.", (
        C("line_id", "VARCHAR", required=True, key=True),
        C("run_id", "VARCHAR", required=True),
        C("period_id", "VARCHAR", required=True),
        C("line_no", "INTEGER", required=True),
        C("line_key", "VARCHAR", required=True, description="the same line across runs"),
        C("payee_id", "VARCHAR", required=True),
        C("plan_id", "VARCHAR", required=True),
        C("plan_version", "INTEGER", required=True),
        C("component", "VARCHAR", required=True),
        C("line_type", "VARCHAR", required=True),
        C("amount", MONEY, required=True),
        C("currency", "VARCHAR", required=True),
        C("status", "VARCHAR", required=True, choices=("payable", "held")),
        C("measure", "VARCHAR"),
        C("measure_value", "DECIMAL(38,10)"),
        C("attainment", "DECIMAL(38,10)"),
        C("tier", "VARCHAR"),
        C("rate", "DECIMAL(38,10)"),
        C("formula", "VARCHAR"),
        C("credit_ids", "VARCHAR[]"),
        C("reference", "VARCHAR"),
        C("unprorated_amount", MONEY),
        C("proration", "DECIMAL(18,10)"),
        C("explanation", "VARCHAR", description="JSON"),
        C("corrects_line_id", "VARCHAR", description="a prior-period adjustment: the line it corrects"),
        C("corrects_period_id", "VARCHAR"),
    ), importable=False),
    TableSpec("adjustments", "Manual adjustments (approved ones are paid as lines of their period).", (
        C("adjustment_id", "VARCHAR", required=True, key=True),
        C("payee_id", "VARCHAR", required=True),
        C("period_id", "VARCHAR", required=True),
        C("plan_id", "VARCHAR"),
        C("component", "VARCHAR"),
        C("amount", MONEY, required=True),
        C("currency", "VARCHAR", required=True),
        C("reason", "VARCHAR", required=True),
        C("original_line_id", "VARCHAR"),
        C("dispute_id", "VARCHAR"),
        C("status", "VARCHAR", required=True, choices=("pending", "approved", "rejected")),
        C("created_by", "VARCHAR", required=True),
        C("created_at", "TIMESTAMP", required=True),
        C("approved_by", "VARCHAR"),
        C("approved_at", "TIMESTAMP"),
    ), importable=False),
    TableSpec("disputes", "Inquiries raised by payees on payout lines.", (
        C("dispute_id", "VARCHAR", required=True, key=True),
        C("line_id", "VARCHAR", required=True),
        C("payee_id", "VARCHAR", required=True),
        C("status", "VARCHAR", required=True, choices=("open", "in_review", "resolved", "rejected")),
        C("description", "VARCHAR", required=True),
        C("raised_by", "VARCHAR", required=True),
        C("raised_at", "TIMESTAMP", required=True),
        C("resolution", "VARCHAR"),
        C("adjustment_id", "VARCHAR"),
        C("updated_at", "TIMESTAMP"),
    ), importable=False),
    TableSpec("audit_log", "Append-only record of every change, hash-chained.", (
        C("seq", "BIGINT", required=True, key=True),
        C("occurred_at", "TIMESTAMP", required=True),
        C("actor", "VARCHAR", required=True),
        C("action", "VARCHAR", required=True),
        C("entity", "VARCHAR", required=True),
        C("detail", "VARCHAR", description="JSON: what changed, before and after"),
        C("prev_hash", "VARCHAR", required=True),
        C("hash", "VARCHAR", required=True),
    ), importable=False),
    TableSpec("import_log", "One row per import: what was loaded, from where, with what result.", (
        C("import_id", "VARCHAR", required=True, key=True),
        C("table_name", "VARCHAR", required=True),
        C("source", "VARCHAR", required=True),
        C("started_at", "TIMESTAMP", required=True),
        C("finished_at", "TIMESTAMP", required=True),
        C("rows_read", "BIGINT", required=True),
        C("inserted", "BIGINT", required=True),
        C("updated", "BIGINT", required=True),
        C("unchanged", "BIGINT", required=True),
        C("content_hash", "VARCHAR", required=True),
    ), importable=False),
    # -- tables added by the compensation engine (issue 3) --
    TableSpec("crediting_rules", "Rule-based crediting: credit a payee on every transaction matching a "
              "territory (region), segment, product, deal type or kind, effective-dated.", (
        C("rule_id", "VARCHAR", required=True, key=True),
        C("payee_id", "VARCHAR", required=True, references="payees.payee_id"),
        C("credit_type", "VARCHAR", required=True, choices=("rule", "overlay")),
        C("percent", SHARE, required=True, min_value=0, description="share of each transaction"),
        C("region_id", "VARCHAR", references="regions.region_id", description="empty = any"),
        C("segment", "VARCHAR", description="empty = any"),
        C("product", "VARCHAR", description="empty = any"),
        C("deal_type", "VARCHAR", choices=("new", "expansion", "renewal"), description="empty = any"),
        C("transaction_kind", "VARCHAR",
          choices=("booking", "invoice", "payment", "cancellation", "refund"), description="empty = any"),
        C("valid_from", "DATE", required=True),
        C("valid_to", "DATE", description="exclusive; empty = open"),
        C("description", "VARCHAR"),
        *LINEAGE,
    ), date_columns_for_range=("valid_from",)),
    # -- tables added by metrics and benchmarking (issue 4) --
    # -- tables added by integration / sync (issue 5) --
    TableSpec("sync_log", "One row per data-source sync: when, how, what it wrote, its watermark "
              "and its error if it failed (a failed sync wrote nothing else).", (
        C("sync_id", "VARCHAR", required=True, key=True),
        C("source", "VARCHAR", required=True, description="the configured source's name"),
        C("source_type", "VARCHAR", required=True, description="the registered data source"),
        C("mode", "VARCHAR", required=True, choices=("full", "incremental")),
        C("status", "VARCHAR", required=True, choices=("succeeded", "failed")),
        C("started_at", "TIMESTAMP", required=True),
        C("finished_at", "TIMESTAMP", required=True),
        C("since", "VARCHAR", description="JSON: the watermark the sync started from"),
        C("watermark", "VARCHAR", description="JSON: per stream, the newest change seen"),
        C("records_read", "BIGINT", required=True),
        C("inserted", "BIGINT", required=True),
        C("updated", "BIGINT", required=True),
        C("unchanged", "BIGINT", required=True),
        C("deleted", "BIGINT", required=True),
        C("rejected", "BIGINT", required=True),
        C("counts", "VARCHAR", description="JSON: the counts per table"),
        C("error", "VARCHAR"),
    ), importable=False),
    TableSpec("sync_rejects", "Records a sync quarantined, with the reason; resolved when a later "
              "sync imports the record.", (
        C("reject_id", "VARCHAR", required=True, key=True),
        C("sync_id", "VARCHAR", required=True),
        C("source", "VARCHAR", required=True),
        C("table_name", "VARCHAR", required=True),
        C("source_id", "VARCHAR", required=True),
        C("field", "VARCHAR"),
        C("value", "VARCHAR"),
        C("reason", "VARCHAR", required=True),
        C("record", "VARCHAR", required=True, description="JSON: the record in canonical columns"),
        C("rejected_at", "TIMESTAMP", required=True),
        C("resolved_at", "TIMESTAMP"),
        C("resolved_by", "VARCHAR", description="the sync that imported the record"),
    ), importable=False),
    # -- tables added by forecasting (issue 6) --
    # -- tables added by planning (issue 7) --
    TableSpec("quota_sets", "Versioned quota sets (draft -> approved; an approved one is immutable and "
              "is what the quotas table holds for its periods).", (
        C("quota_set_id", "VARCHAR", required=True, key=True),
        C("version", "INTEGER", required=True, key=True, min_value=1),
        C("name", "VARCHAR", required=True),
        C("fiscal_year", "INTEGER", required=True),
        C("measure", "VARCHAR", required=True),
        C("annual_measure", "VARCHAR"),
        C("cadence", "VARCHAR", required=True, choices=("month", "quarter", "year")),
        C("method", "VARCHAR", required=True, choices=("historical", "potential", "forecast", "even")),
        C("method_used", "VARCHAR", required=True, choices=("historical", "potential", "forecast", "even"),
          description="the method applied (forecast falls back to historical without a forecaster)"),
        C("target", MONEY, required=True, min_value=0, description="company target, base currency"),
        C("currency", "VARCHAR", required=True, description="the base currency"),
        C("period_start", "DATE", required=True),
        C("period_end", "DATE", required=True),
        C("status", "VARCHAR", required=True, choices=("draft", "approved")),
        C("settings", "VARCHAR", description="JSON: the allocation settings"),
        C("notes", "VARCHAR", description="JSON: warnings and fallbacks of the allocation"),
        C("created_at", "TIMESTAMP", required=True),
        C("created_by", "VARCHAR", required=True),
        C("approved_at", "TIMESTAMP"),
        C("approved_by", "VARCHAR"),
        C("approval", "VARCHAR", description="JSON: what approving wrote into quotas"),
    ), importable=False, date_columns_for_range=("period_start",)),
    TableSpec("quota_set_lines", "The quota rows of a quota set (what approving writes into quotas).", (
        C("quota_set_id", "VARCHAR", required=True, key=True),
        C("version", "INTEGER", required=True, key=True),
        C("payee_id", "VARCHAR", required=True, key=True),
        C("measure", "VARCHAR", required=True, key=True),
        C("period_start", "DATE", required=True, key=True),
        C("period_end", "DATE", required=True),
        C("amount", MONEY, required=True, min_value=0, description="in the payee's currency"),
        C("currency", "VARCHAR", required=True),
        C("amount_base", MONEY, required=True, description="in the base currency"),
        C("level", "VARCHAR", required=True, choices=("company", "region", "team", "payee")),
        C("node", "VARCHAR", required=True, description="the company, region, team or payee the quota is for"),
    ), importable=False, date_columns_for_range=("period_start",)),
    TableSpec("quota_set_nodes", "A quota set's allocation report: top-down, bottom-up and gap per company, "
              "region, team and payee (base currency).", (
        C("quota_set_id", "VARCHAR", required=True, key=True),
        C("version", "INTEGER", required=True, key=True),
        C("node_no", "INTEGER", required=True, key=True),
        C("level", "VARCHAR", required=True, choices=("company", "region", "team", "payee")),
        C("node", "VARCHAR", required=True),
        C("parent", "VARCHAR"),
        C("holder", "VARCHAR", description="the payee who holds the node's quota"),
        C("payees", "INTEGER", required=True),
        C("top_down", MONEY, required=True),
        C("bottom_up", MONEY, required=True),
        C("gap", MONEY, required=True),
        C("effective_months", SHARE),
        C("expected", MONEY, description="expected bookings (payee rows)"),
        C("potential", MONEY, description="potential of owned accounts (payee rows)"),
    ), importable=False),
    # -- tables added by trust / audit (issue 9) --
    TableSpec("users", "People who may sign in: their role (admin, analyst, finance, manager, rep) and, "
              "for managers and reps, the payee they are. Written by `spm users`, every change audited.", (
        C("username", "VARCHAR", required=True, key=True),
        C("role", "VARCHAR", required=True, choices=("admin", "analyst", "finance", "manager", "rep")),
        C("payee_id", "VARCHAR", description="the payee a manager or rep is (their scope)"),
        C("display_name", "VARCHAR"),
        C("password_hash", "VARCHAR", description="jupyter_server.auth.passwd hash; never shown"),
        C("active", "BOOLEAN", required=True),
        C("created_at", "TIMESTAMP", required=True),
        C("created_by", "VARCHAR", required=True),
        C("updated_at", "TIMESTAMP", required=True),
    ), importable=False),
    # -- tables added by training (issue 10) --
    TableSpec("training_paths", "Learning paths: an ordered set of modules for a role (empty role = anyone).", (
        C("path_id", "VARCHAR", required=True, key=True),
        C("name", "VARCHAR", required=True),
        C("role", "VARCHAR", choices=("vp", "director", "manager", "rep", "overlay", "analyst"),
          description="the role the path is for; empty = every role"),
        C("description", "VARCHAR"),
        *LINEAGE,
    )),
    TableSpec("training_path_modules", "The modules of each learning path, in order.", (
        C("path_id", "VARCHAR", required=True, key=True, references="training_paths.path_id"),
        C("module_id", "VARCHAR", required=True, key=True, references="training_modules.module_id"),
        C("position", "INTEGER", required=True, min_value=1, description="1 = first"),
        *LINEAGE,
    )),
    TableSpec("training_rules", "Assignment rules: a path for every payee of a role, for new hires, or "
              "for payees whose KPI is below a peer percentile (kpi_gap).", (
        C("rule_id", "VARCHAR", required=True, key=True),
        C("path_id", "VARCHAR", required=True, references="training_paths.path_id"),
        C("kind", "VARCHAR", required=True, choices=("role", "new_hire", "kpi_gap")),
        C("role", "VARCHAR", choices=("vp", "director", "manager", "rep", "overlay", "analyst"),
          description="who the rule applies to; empty = every role"),
        C("metric", "VARCHAR", description="kpi_gap: the registered metric compared with peers"),
        C("percentile", "DECIMAL(5,2)", min_value=0, description="kpi_gap: assign when the value is "
          "worse than this percentile of the payee's peers (25 = bottom quartile)"),
        C("min_peers", "INTEGER", min_value=1, description="kpi_gap: peer groups smaller than this are "
          "not judged (default 4)"),
        C("due_days", "INTEGER", required=True, min_value=0, description="due this many days after "
          "assignment (new_hire: after the hire date)"),
        C("repeat_days", "INTEGER", min_value=1, description="assign again once the last assignment of "
          "a module is this old (empty = once only)"),
        C("description", "VARCHAR"),
        *LINEAGE,
    )),
    TableSpec("training_effects", "Stored estimates of a module's effect on a KPI (difference in "
              "differences against untrained peers, partially pooled across teams; PyMC).", (
        C("estimate_id", "VARCHAR", required=True, key=True),
        C("module_id", "VARCHAR", required=True),
        C("metric", "VARCHAR", required=True),
        C("estimated_at", "TIMESTAMP", required=True),
        C("first_date", "DATE", required=True, description="first deal creation date used"),
        C("last_date", "DATE", required=True),
        C("effect", SHARE, required=True, description="posterior mean relative change (0.15 = +15%)"),
        C("lower", SHARE, required=True, description="credible interval, relative"),
        C("upper", SHARE, required=True),
        C("interval_prob", SHARE, required=True, description="0.9 for a 90% interval"),
        C("prob_positive", SHARE, required=True, description="posterior probability the effect is > 0"),
        C("baseline", SHARE, description="the trained payees' KPI before training"),
        C("effect_points", SHARE, description="effect x baseline: the change in KPI units"),
        C("trained_payees", "INTEGER", required=True),
        C("control_payees", "INTEGER", required=True),
        C("deals", "BIGINT", required=True),
        C("teams", "VARCHAR", description="JSON: per team, the partially pooled effect and interval"),
        C("diagnostics", "VARCHAR", description="JSON: r_hat, effective sample size, divergences"),
        C("settings", "VARCHAR", description="JSON: the model settings"),
        C("created_by", "VARCHAR", required=True),
    ), importable=False, date_columns_for_range=("estimated_at",)),
)

TABLES_BY_NAME: dict[str, TableSpec] = {t.name: t for t in TABLES}


def get_table(name: str) -> TableSpec:
    """The spec of a canonical table, or a clear error listing the known ones."""
    try:
        return TABLES_BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(TABLES_BY_NAME))
        raise KeyError(f"unknown table {name!r}; the canonical tables are: {known}") from None
