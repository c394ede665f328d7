"""The ``salesforce`` data source: Users, Accounts, Opportunities, splits, stage history and
dated FX rates through the REST query API, with the real ``simple_salesforce`` client.

Reading: SOQL ``query`` then ``queryMore`` (``nextRecordsUrl``) page by page. Incremental:
each object's watermark is the newest ``SystemModstamp`` read; the next sync asks for
``SystemModstamp >= watermark`` (the boundary records again: upserts are idempotent)
through ``queryAll``, whose ``IsDeleted = true`` records are deletions. A full sync uses
``query`` and deletes this source's records that are gone. Every request is retried with
exponential backoff on HTTP 429, 5xx, ``REQUEST_LIMIT_EXCEEDED`` and dropped connections.
Money is parsed from the JSON text straight to ``Decimal`` (``parse_float=Decimal``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed, SalesforceError, SalesforceExpiredSession, SalesforceMalformedRequest,
    SalesforceRefusedRequest, SalesforceResourceNotFound,
)

from spm_kernel.extensions import DataSource
from spm_kernel.sync import (
    Batch, RetryPolicy, SourceError, SyncContext, TableMapping, apply_mapping, iso_utc, newest, record_columns,
    with_retries,
)

T = TypeVar("T")
RETRY_STATUS = {429, 500, 502, 503, 504}
CHUNK_IDS = 200  # ids per "IN (...)" when reading the full history of changed deals

SPLIT_TYPES = {"Revenue": "revenue", "Overlay": "overlay"}
DEAL_TYPES = {"New Customer": "new", "New Business": "new", "Existing Customer - Upgrade": "expansion",
              "Existing Customer - Replacement": "renewal", "Existing Customer - Downgrade": "renewal"}


class ObjectSettings(TableMapping):
    """Overrides for one canonical table: field mapping, a SOQL filter, on/off."""

    enabled: bool | None = Field(None, description="read this object (default: on; FX only with multi_currency)")
    where: str | None = Field(None, description="a SOQL condition added to every query of the object")


class OpportunitySettings(ObjectSettings):
    annualize_by: str | None = Field(
        None, description="a numeric field (e.g. Contract_Years__c): amount = Amount / its value, "
                          "rounded half-up to cents (annual contract value); empty or 0 leaves Amount")


class SalesforceConfig(BaseModel):
    """Settings of a Salesforce org. Authenticate with an OAuth access token (and the
    instance URL), or with username, password and security token (SOAP login)."""

    model_config = ConfigDict(extra="forbid")

    instance_url: str | None = Field(None, description="https://yourcompany.my.salesforce.com")
    access_token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    domain: str = Field("login", description="SOAP login host: login, test (sandbox) or a My Domain")
    api_version: str = "59.0"
    ca_bundle: Path | None = Field(None, description="CA certificates to trust (a corporate TLS proxy)")
    multi_currency: bool = Field(False, description="the org has multiple currencies (CurrencyIsoCode, "
                                                    "DatedConversionRate)")
    corporate_currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    timeout_seconds: float = Field(120, gt=0)
    concurrency: int = Field(4, ge=1, le=10, description="objects read at the same time (Salesforce allows "
                                                          "10 open query cursors per user)")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    payees: ObjectSettings = Field(default_factory=lambda: ObjectSettings(where="UserType = 'Standard'"))
    hierarchy: ObjectSettings = Field(default_factory=ObjectSettings)
    accounts: ObjectSettings = Field(default_factory=ObjectSettings)
    opportunities: OpportunitySettings = Field(default_factory=OpportunitySettings)
    opportunity_splits: ObjectSettings = Field(default_factory=ObjectSettings)
    opportunity_stage_history: ObjectSettings = Field(default_factory=ObjectSettings)
    fx_rates: ObjectSettings = Field(default_factory=ObjectSettings)

    @model_validator(mode="after")
    def _auth(self) -> SalesforceConfig:
        if self.access_token is not None and not self.instance_url:
            raise ValueError("an access token needs instance_url")
        return self


def default_mappings(config: SalesforceConfig) -> dict[str, TableMapping]:
    """The mapping of each canonical table before the workspace's overrides."""
    cur = config.corporate_currency
    multi = config.multi_currency
    return {
        "payees": TableMapping(
            fields={"payee_id": "Id", "name": "Name", "email": "Email", "hire_date": "CreatedDate",
                    **({"currency": "DefaultCurrencyIsoCode"} if multi else {})},
            defaults={"role": "rep", "currency": cur}),
        "hierarchy": TableMapping(fields={"payee_id": "Id", "manager_id": "ManagerId", "valid_from": "CreatedDate"}),
        "accounts": TableMapping(
            fields={"account_id": "Id", "name": "Name", "industry": "Industry", "owner_id": "OwnerId",
                    **({"currency": "CurrencyIsoCode"} if multi else {})}),
        "opportunities": TableMapping(
            fields={"opportunity_id": "Id", "account_id": "AccountId", "owner_id": "OwnerId", "name": "Name",
                    "amount": "Amount", "stage": "StageName", "created_date": "CreatedDate",
                    "close_date": "CloseDate", "is_closed": "IsClosed", "is_won": "IsWon", "deal_type": "Type",
                    **({"currency": "CurrencyIsoCode"} if multi else {})},
            values={"deal_type": DEAL_TYPES}, defaults={"currency": cur}),
        "opportunity_splits": TableMapping(
            fields={"opportunity_id": "OpportunityId", "payee_id": "SplitOwnerId",
                    "split_type": "SplitType.DeveloperName", "percent": "SplitPercentage"},
            values={"split_type": SPLIT_TYPES}),
        "opportunity_stage_history": TableMapping(
            fields={"opportunity_id": "OpportunityId", "stage": "StageName", "entered_date": "CreatedDate"}),
        "fx_rates": TableMapping(fields={"to_currency": "IsoCode", "rate": "ConversionRate", "rate_date": "StartDate"},
                                 defaults={"from_currency": cur}),
    }


OBJECTS = {  # canonical table -> (sObject, can be deleted)
    "payees": ("User", False), "hierarchy": ("User", False), "accounts": ("Account", True),
    "opportunities": ("Opportunity", True), "opportunity_splits": ("OpportunitySplit", True),
    "opportunity_stage_history": ("OpportunityHistory", True), "fx_rates": ("DatedConversionRate", False),
}


class _PinnedCASession(requests.Session):
    """A session that verifies TLS with one CA bundle even when the environment names
    another (``REQUESTS_CA_BUNDLE`` would otherwise win over ``Session.verify``)."""

    def __init__(self, ca_bundle: Path) -> None:
        super().__init__()
        self.ca_bundle = str(ca_bundle)

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        merged["verify"] = self.ca_bundle
        return merged


def _detail(exc: BaseException) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return "; ".join(f"{c.get('errorCode', '')}: {c.get('message', '')}" for c in content)
    if isinstance(content, dict):
        return f"{content.get('errorCode', content.get('error', ''))}: {content.get('message', content)}"
    return str(exc).splitlines()[0][:300]


def retryable(exc: BaseException) -> bool | None:
    """True for what a later try may fix: 429/5xx, REQUEST_LIMIT_EXCEEDED, a lost connection."""
    if isinstance(exc, SalesforceRefusedRequest):
        return True if "REQUEST_LIMIT_EXCEEDED" in str(getattr(exc, "content", "")) else None
    if isinstance(exc, (SalesforceExpiredSession, SalesforceAuthenticationFailed, SalesforceMalformedRequest,
                        SalesforceResourceNotFound)):
        return None
    if isinstance(exc, SalesforceError):
        return True if getattr(exc, "status", None) in RETRY_STATUS else None
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
        return True
    return None


class SalesforceSource(DataSource):
    name = "salesforce"
    label = "Salesforce"
    description = "Users, accounts, opportunities, splits, stage history and dated FX from a Salesforce org"
    tables = ("payees", "hierarchy", "accounts", "opportunities", "opportunity_splits",
              "opportunity_stage_history", "fx_rates")
    config_model = SalesforceConfig

    def __init__(self, session_factory: Callable[[], requests.Session] | None = None) -> None:
        """``session_factory`` makes the ``requests.Session`` the client uses (a proxy setup,
        extra adapters); by default a plain session, or one trusting ``ca_bundle``."""
        self._session_factory = session_factory

    # ---- connection ----
    def _where(self) -> str:
        config: SalesforceConfig = self.settings()
        return config.instance_url or f"{config.domain}.salesforce.com"

    def client(self) -> Salesforce:
        """A logged-in ``simple_salesforce.Salesforce`` (money parsed as Decimal)."""
        config: SalesforceConfig = self.settings()
        if self._session_factory is not None:
            session = self._session_factory()
        elif config.ca_bundle is not None:
            session = _PinnedCASession(config.ca_bundle)
        else:
            session = requests.Session()
        common = {"version": config.api_version, "session": session, "parse_float": Decimal,
                  "object_pairs_hook": dict}
        instance = self.instance or self.name
        try:
            if config.access_token is not None:
                return Salesforce(instance_url=config.instance_url,
                                  session_id=config.access_token.get_secret_value(), **common)
            if config.username and config.password is not None:
                token = config.security_token.get_secret_value() if config.security_token else ""
                return self._call(lambda: Salesforce(
                    username=config.username, password=config.password.get_secret_value(),
                    security_token=token, domain=config.domain, **common), "login")
        except SalesforceAuthenticationFailed as exc:
            raise self._refused(exc) from None
        from spm_kernel.sync.settings import env_name
        raise SourceError(
            f"source {instance!r} has no Salesforce credentials: set {env_name(instance, 'access_token')} "
            f"(with instance_url in sources.yaml), or username in sources.yaml and "
            f"{env_name(instance, 'password')} / {env_name(instance, 'security_token')}")

    def _refused(self, exc: BaseException) -> SourceError:
        from spm_kernel.sync.settings import env_name
        instance = self.instance or self.name
        config: SalesforceConfig = self.settings()
        where = env_name(instance, "access_token") if config.access_token is not None else \
            f"{env_name(instance, 'password')} / {env_name(instance, 'security_token')}"
        return SourceError(f"Salesforce at {self._where()} refused the credentials of source {instance!r} "
                           f"({_detail(exc)}); renew them in {where} or the credentials file")

    def _call(self, call: Callable[[], T], what: str) -> T:
        config: SalesforceConfig = self.settings()
        try:
            return with_retries(call, config.retry, retryable)
        except (SalesforceExpiredSession, SalesforceAuthenticationFailed) as exc:
            raise self._refused(exc) from None
        except (SalesforceMalformedRequest, SalesforceResourceNotFound) as exc:
            raise SourceError(f"Salesforce at {self._where()} refused the {what} ({_detail(exc)}); check the "
                              f"field mapping and the objects enabled in sources.yaml") from None
        except (SalesforceError, requests.RequestException) as exc:
            tries = config.retry.attempts if retryable(exc) else 1
            raise SourceError(f"Salesforce at {self._where()} failed during the {what} after {tries} "
                              f"tr{'y' if tries == 1 else 'ies'}: {_detail(exc)}") from None

    def check(self) -> str:
        sf = self.client()
        config: SalesforceConfig = self.settings()
        page = self._call(lambda: sf.query("SELECT Id FROM User LIMIT 1", timeout=config.timeout_seconds),
                          "query of User")
        return f"connected to Salesforce at {self._where()} (API v{config.api_version}, {page['totalSize']} user read)"

    # ---- reading ----
    def pages(self, sf: Salesforce, soql: str, include_deleted: bool, context: SyncContext,
              what: str) -> Iterator[list[dict[str, Any]]]:
        """The records of ``soql`` page by page: query, then queryMore until ``done``."""
        timeout = self.settings().timeout_seconds
        page = self._call(lambda: sf.query(soql, include_deleted=include_deleted, timeout=timeout), f"query of {what}")
        context.advance(0, total=page.get("totalSize") or 0)
        while True:
            records = page.get("records") or []
            context.advance(len(records))
            yield records
            if page.get("done", True):
                return
            next_url = page["nextRecordsUrl"]
            page = self._call(lambda: sf.query_more(next_url, identifier_is_url=True, timeout=timeout),
                              f"queryMore of {what}")

    def _read(self, sf: Salesforce, context: SyncContext, obj: str, fields: list[str], where: str | None,
              deletable: bool, extra: str | None = None) -> tuple[pd.DataFrame, list[str], str | None, int]:
        since = context.since(obj)
        wanted = ["Id", "SystemModstamp", *(["IsDeleted"] if deletable else []), *fields]
        conditions = [f"({where})" if where and " or " in where.lower() else where] if where else []
        if extra:
            conditions.append(extra)
        if since is not None:
            conditions.append(f"SystemModstamp >= {iso_utc(since)}")
        soql = f"SELECT {', '.join(dict.fromkeys(wanted))} FROM {obj}"
        if conditions:
            soql += " WHERE " + " AND ".join(conditions)
        records = list(chain.from_iterable(self.pages(sf, soql, deletable and since is not None, context, obj)))
        if not records:
            return pd.DataFrame(), [], None, 0
        frame = record_columns(records, wanted)
        mark = newest(frame["SystemModstamp"].tolist())
        deleted: list[str] = []
        if deletable:
            gone = frame["IsDeleted"].isin(["True", "true"]).to_numpy()
            if gone.any():
                deleted = [str(v) for v in frame.loc[gone, "Id"].tolist()]
                frame = frame[~gone].reset_index(drop=True)
        return frame, deleted, mark, len(records)

    def _mapping(self, table: str) -> tuple[TableMapping, ObjectSettings]:
        config: SalesforceConfig = self.settings()
        settings: ObjectSettings = getattr(config, table)
        base = default_mappings(config)[table]
        override = TableMapping(fields=settings.fields, values=settings.values, defaults=settings.defaults)
        return base.override(override), settings

    def _enabled(self, table: str) -> bool:
        config: SalesforceConfig = self.settings()
        flag = getattr(config, table).enabled
        return config.multi_currency if flag is None and table == "fx_rates" else flag is not False

    def fetch(self, context: SyncContext) -> Iterator[Batch]:
        """Read every enabled object, ``concurrency`` of them at a time (each on its own
        connection), and yield their batches in table order once all are read."""
        sf = self.client()
        reads: list[Callable[[Salesforce], list[Batch]]] = []
        if self._enabled("payees") or self._enabled("hierarchy"):
            reads.append(lambda client: list(self._users(client, context)))
        for table in ("accounts", "opportunities", "opportunity_splits", "fx_rates"):
            if self._enabled(table):
                reads.append(lambda client, t=table: [self._simple(client, context, t)])
        if self._enabled("opportunity_stage_history"):
            reads.append(lambda client: [self._history(client, context)])
        workers = min(self.settings().concurrency, len(reads))
        if workers <= 1:
            results = [read(sf) for read in reads]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="spm-salesforce") as pool:
                futures = [pool.submit(lambda read=read: read(self._another(sf))) for read in reads]
                results = [future.result() for future in futures]
        for batches in results:
            yield from batches

    def _another(self, sf: Salesforce) -> Salesforce:
        """A client on its own HTTP session sharing ``sf``'s login (sessions are not shared
        between threads)."""
        config: SalesforceConfig = self.settings()
        if self._session_factory is not None:
            session = self._session_factory()
        elif config.ca_bundle is not None:
            session = _PinnedCASession(config.ca_bundle)
        else:
            session = requests.Session()
        return Salesforce(instance=sf.sf_instance, session_id=sf.session_id, version=config.api_version,
                          session=session, parse_float=Decimal, object_pairs_hook=dict)

    def _users(self, sf: Salesforce, context: SyncContext) -> Iterator[Batch]:
        payees, settings = self._mapping("payees")
        hierarchy, _ = self._mapping("hierarchy")
        fields = payees.source_fields() if self._enabled("payees") else []
        fields += hierarchy.source_fields() if self._enabled("hierarchy") else []
        frame, _, mark, n = self._read(sf, context, "User", fields, settings.where, False)
        complete = context.since("User") is None
        if self._enabled("payees"):
            yield Batch("payees", apply_mapping(frame, "payees", payees, "Id"), stream="User", watermark=mark,
                        complete=complete, records_read=n)
        if self._enabled("hierarchy"):
            yield Batch("hierarchy", apply_mapping(frame, "hierarchy", hierarchy, "Id"),
                        as_of=datetime.now(timezone.utc).date(), records_read=n)

    def _simple(self, sf: Salesforce, context: SyncContext, table: str) -> Batch:
        obj, deletable = OBJECTS[table]
        mapping, settings = self._mapping(table)
        fields = mapping.source_fields()
        annualize = getattr(settings, "annualize_by", None)
        if annualize:
            fields.append(annualize)
        frame, deleted, mark, n = self._read(sf, context, obj, fields, settings.where, deletable)
        if table == "fx_rates" and not frame.empty:
            corporate = self.settings().corporate_currency
            frame = frame[frame["IsoCode"] != corporate].reset_index(drop=True)
        rows = apply_mapping(frame, table, mapping, "Id")
        if annualize and not rows.empty:
            rows["amount"] = _annualized(rows["amount"], frame[annualize] if annualize in frame.columns else None)
        return Batch(table, rows, deleted=deleted, stream=obj, watermark=mark,
                     complete=context.since(obj) is None, records_read=n)

    def _history(self, sf: Salesforce, context: SyncContext) -> Batch:
        """Stage entries: the history rows whose stage differs from the deal's previous row."""
        mapping, settings = self._mapping("opportunity_stage_history")
        fields = ["OpportunityId", "StageName", "CreatedDate"]
        frame, deleted, mark, n = self._read(sf, context, "OpportunityHistory", fields, settings.where, True)
        complete = context.since("OpportunityHistory") is None
        if not complete and not frame.empty:
            # a change needs the deal's whole history to know whether a stage was *entered*
            deals = sorted(frame["OpportunityId"].dropna().astype(str).unique())
            parts = []
            for i in range(0, len(deals), CHUNK_IDS):
                ids = ", ".join(f"'{d}'" for d in deals[i:i + CHUNK_IDS])
                whole = [r for page in self.pages(
                    sf, f"SELECT Id, SystemModstamp, {', '.join(fields)} FROM OpportunityHistory "
                        f"WHERE OpportunityId IN ({ids})", False, context, "OpportunityHistory") for r in page]
                parts.append(record_columns(whole, ["Id", "SystemModstamp", *fields]))
            frame = pd.concat(parts, ignore_index=True)
        rows = apply_mapping(stage_entries(frame), "opportunity_stage_history", mapping, "Id")
        return Batch("opportunity_stage_history", rows, deleted=deleted, stream="OpportunityHistory",
                     watermark=mark, complete=complete, records_read=n)


def stage_entries(history: pd.DataFrame) -> pd.DataFrame:
    """From OpportunityHistory rows, those where a deal entered a stage (its first row, or a
    row whose StageName differs from the previous row's), one per (deal, stage, day)."""
    if history.empty:
        return history
    h = history.sort_values(["OpportunityId", "CreatedDate", "Id"], kind="stable")
    previous = h.groupby("OpportunityId", sort=False)["StageName"].shift()
    entered = h[previous.isna() | (previous != h["StageName"])].copy()
    entered["__day"] = entered["CreatedDate"].astype(str).str.slice(0, 10)
    return entered.drop_duplicates(["OpportunityId", "StageName", "__day"], keep="first").drop(columns="__day")


def _annualized(amount: pd.Series, years: pd.Series | None) -> pd.Series:
    if years is None:
        return amount
    cent = Decimal("0.01")

    def one(a: Any, y: Any) -> Any:
        try:
            if a is None or y is None or pd.isna(a) or pd.isna(y) or Decimal(str(y)) == 0:
                return a
            return (Decimal(str(a)) / Decimal(str(y))).quantize(cent, rounding=ROUND_HALF_UP)
        except (InvalidOperation, TypeError, ValueError):
            return a  # not numbers: validation rejects the amount with its reason

    return pd.Series([one(a, y) for a, y in zip(amount, years.reset_index(drop=True))], dtype=object)
