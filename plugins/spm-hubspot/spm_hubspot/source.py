"""The ``hubspot`` data source: owners and their teams (payees), companies, deals with their
pipeline stages, stage entries and deal-company associations, through the real
``hubspot-api-client``.

Reading: list endpoints page by ``paging.next.after`` until it is missing. Incremental: the
CRM search API with ``hs_lastmodifieddate >= watermark`` (sorted ascending, paged by
``after``; past the search API's 10,000-result window the source lists everything and keeps
the changed records), then the v4 associations batch read for the changed deals. Archived
(deleted) deals and companies are listed with ``archived=true``; those archived since the
watermark are deleted here. Owners are small and read whole each time. Every request goes
through urllib3's ``Retry``: 429 and 5xx (``Retry-After`` honoured) and dropped connections
are retried, POST searches included. Amounts are HubSpot property strings: exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, TypeVar

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from spm_kernel.extensions import DataSource
from spm_kernel.sync import (
    Batch, RetryPolicy, SourceError, SyncContext, TableMapping, apply_mapping, newest,
)

T = TypeVar("T")
SEARCH_WINDOW = 10_000  # the search API returns at most this many results per query
DEAL_TYPES = {"newbusiness": "new", "existingbusiness": "expansion"}
COMPUTED = {"id", "company_id", "stage_label", "is_closed", "is_won", "owner_name", "primary_team_id",
            "created_at", "updated_at", "archived_at"}


class ObjectSettings(TableMapping):
    """Overrides for one canonical table: field mapping (HubSpot property names), on/off."""

    enabled: bool = True


class HubSpotConfig(BaseModel):
    """Settings of a HubSpot account, read with a private-app access token."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field("https://api.hubapi.com", description="the API host")
    access_token: SecretStr | None = None
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description="the account's company currency")
    region_id: str = Field("hubspot", description="region of the teams HubSpot sends (a row is written)")
    region_name: str = "HubSpot"
    pipelines: list[str] | None = Field(None, description="only deals of these pipeline ids (default: all)")
    page_size: int = Field(100, ge=1, le=100)
    timeout_seconds: float = Field(60, gt=0)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    payees: ObjectSettings = Field(default_factory=ObjectSettings)
    teams: ObjectSettings = Field(default_factory=ObjectSettings)
    accounts: ObjectSettings = Field(default_factory=ObjectSettings)
    opportunities: ObjectSettings = Field(default_factory=ObjectSettings)
    opportunity_stage_history: ObjectSettings = Field(default_factory=ObjectSettings)


def default_mappings(config: HubSpotConfig) -> dict[str, TableMapping]:
    return {
        "regions": TableMapping(fields={"region_id": "region_id", "name": "name"}),
        "teams": TableMapping(fields={"team_id": "id", "name": "name"}, defaults={"region_id": config.region_id}),
        "payees": TableMapping(
            fields={"payee_id": "id", "name": "owner_name", "email": "email", "team_id": "primary_team_id",
                    "hire_date": "created_at", "termination_date": "archived_at"},
            defaults={"role": "rep", "currency": config.currency}),
        "accounts": TableMapping(fields={"account_id": "id", "name": "name", "industry": "industry",
                                         "owner_id": "hubspot_owner_id"}),
        "opportunities": TableMapping(
            fields={"opportunity_id": "id", "account_id": "company_id", "owner_id": "hubspot_owner_id",
                    "name": "dealname", "amount": "amount", "currency": "deal_currency_code", "stage": "stage_label",
                    "created_date": "createdate", "close_date": "closedate", "is_closed": "is_closed",
                    "is_won": "is_won", "deal_type": "dealtype"},
            values={"deal_type": DEAL_TYPES}, defaults={"currency": config.currency}),
        "opportunity_stage_history": TableMapping(
            fields={"opportunity_id": "deal_id", "stage": "stage_label", "entered_date": "entered"}),
    }


def _body(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    try:
        data = __import__("json").loads(body) if body else {}
        return f"{data.get('category', '')}: {data.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        return str(body or exc).splitlines()[0][:300]


class HubSpotSource(DataSource):
    name = "hubspot"
    label = "HubSpot"
    description = "owners and teams, companies, deals with pipeline stages and associations from HubSpot"
    tables = ("regions", "teams", "payees", "accounts", "opportunities", "opportunity_stage_history")
    config_model = HubSpotConfig

    def _instance(self) -> str:
        return self.instance or self.name

    def client(self) -> Any:
        """The ``hubspot.HubSpot`` client, with urllib3 retries per the retry policy."""
        from hubspot import HubSpot
        from urllib3.util.retry import Retry

        from spm_kernel.sync.settings import env_name

        config: HubSpotConfig = self.settings()
        if config.access_token is None:
            raise SourceError(f"source {self._instance()!r} has no HubSpot access token: set "
                              f"{env_name(self._instance(), 'access_token')} or put it in the credentials file")
        policy = config.retry
        retry = Retry(total=policy.attempts - 1, connect=policy.attempts - 1, read=policy.attempts - 1,
                      status=policy.attempts - 1, backoff_factor=policy.base_seconds, backoff_max=policy.cap_seconds,
                      status_forcelist=(429, 500, 502, 503, 504), allowed_methods=None,
                      respect_retry_after_header=True, raise_on_status=False)
        return HubSpot(access_token=config.access_token.get_secret_value(), host=config.base_url.rstrip("/"),
                       retry=retry)

    def _call(self, call: Callable[[], T], what: str) -> T:
        from urllib3.exceptions import HTTPError as Urllib3Error

        from spm_kernel.sync.settings import env_name

        config: HubSpotConfig = self.settings()
        try:
            return call()
        except Urllib3Error as exc:
            raise SourceError(f"HubSpot at {config.base_url} failed during the {what} after "
                              f"{config.retry.attempts} tries: {type(exc).__name__}: {str(exc)[:300]}") from None
        except Exception as exc:  # noqa: BLE001 - each API package has its own ApiException
            status = getattr(exc, "status", None)
            if status is None:
                raise
            if status == 401:
                raise SourceError(f"HubSpot at {config.base_url} refused the credentials of source "
                                  f"{self._instance()!r} ({_body(exc)}); renew the token in "
                                  f"{env_name(self._instance(), 'access_token')} or the credentials file") from None
            if status == 403:
                raise SourceError(f"HubSpot at {config.base_url} refused the {what} ({_body(exc)}): the private "
                                  f"app lacks a scope (crm.objects.deals.read, crm.objects.companies.read, "
                                  f"crm.objects.owners.read)") from None
            tries = config.retry.attempts if status in (429, 500, 502, 503, 504) else 1
            raise SourceError(f"HubSpot at {config.base_url} failed during the {what} (HTTP {status}, "
                              f"{_body(exc)}) after {tries} tr{'y' if tries == 1 else 'ies'}") from None

    def check(self) -> str:
        api = self.client()
        config: HubSpotConfig = self.settings()
        page = self._call(lambda: api.crm.owners.owners_api.get_page(limit=1, _request_timeout=config.timeout_seconds),
                          "owners read")
        return f"connected to HubSpot at {config.base_url} ({len(page.results)} owner read)"

    # ---- reading ----
    def _pages(self, fetch: Callable[[str | None], Any], what: str, context: SyncContext) -> Iterator[list[Any]]:
        """Results page by page, following ``paging.next.after`` until it is missing."""
        after: str | None = None
        while True:
            page = self._call(lambda: fetch(after), what)
            results = list(page.results or [])
            total = getattr(page, "total", None)
            if after is None and total:
                context.advance(0, total=total)
            context.advance(len(results))
            yield results
            nxt = page.paging.next if page.paging is not None else None
            if nxt is None or not nxt.after:
                return
            after = nxt.after

    def _mapping(self, table: str) -> TableMapping:
        config: HubSpotConfig = self.settings()
        settings = getattr(config, table, None)
        base = default_mappings(config)[table]
        if settings is None:
            return base
        return base.override(TableMapping(fields=settings.fields, values=settings.values, defaults=settings.defaults))

    def _enabled(self, table: str) -> bool:
        return getattr(self.settings(), table).enabled

    def fetch(self, context: SyncContext) -> Iterator[Batch]:
        api = self.client()
        if self._enabled("payees") or self._enabled("teams"):
            yield from self._owners(api, context)
        if self._enabled("accounts"):
            yield self._objects(api, context, "companies")
        if self._enabled("opportunities") or self._enabled("opportunity_stage_history"):
            yield from self._deals(api, context)

    def _owners(self, api: Any, context: SyncContext) -> Iterator[Batch]:
        config: HubSpotConfig = self.settings()
        owners_api = api.crm.owners.owners_api
        timeout = config.timeout_seconds
        rows = []
        for archived in (False, True):
            for page in self._pages(lambda after, a=archived: owners_api.get_page(
                    limit=config.page_size, after=after, archived=a, _request_timeout=timeout),
                    "owners read", context):
                rows += [o.to_dict() for o in page]
        owners = pd.DataFrame(rows)
        if owners.empty:
            return
        owners["owner_name"] = (owners["first_name"].fillna("") + " " + owners["last_name"].fillna("")).str.strip()
        owners.loc[owners["owner_name"] == "", "owner_name"] = owners["email"]
        owners["created_at"] = owners["created_at"].map(_iso)
        archived = owners["archived"].fillna(False).astype(bool)
        owners["archived_at"] = [_iso(t) if gone else None for t, gone in zip(owners["updated_at"], archived)]
        teams = owners["teams"].map(lambda ts: ts or [])
        owners["primary_team_id"] = teams.map(lambda ts: next((t["id"] for t in ts if t.get("primary")),
                                                              ts[0]["id"] if ts else None))
        if self._enabled("teams"):
            team_rows = pd.DataFrame([t for ts in teams for t in ts], columns=["id", "name", "primary"])
            team_rows = team_rows.drop_duplicates("id")
            region = pd.DataFrame({"region_id": [config.region_id], "name": [config.region_name]})
            yield Batch("regions", apply_mapping(region, "regions", self._mapping("regions"), "region_id"))
            yield Batch("teams", apply_mapping(team_rows, "teams", self._mapping("teams"), "id"), complete=True)
        else:
            owners["primary_team_id"] = None
        if self._enabled("payees"):
            yield Batch("payees", apply_mapping(owners, "payees", self._mapping("payees"), "id"), complete=True,
                        records_read=len(owners))

    def _properties(self, table: str, extra: list[str]) -> list[str]:
        fields = self._mapping(table).source_fields()
        return sorted({f for f in fields if f not in COMPUTED} | {"hs_lastmodifieddate", *extra})

    def _list(self, api: Any, context: SyncContext, kind: str, properties: list[str], archived: bool,
              associations: list[str] | None = None) -> list[Any]:
        config: HubSpotConfig = self.settings()
        basic = getattr(api.crm, kind).basic_api
        out: list[Any] = []
        kwargs = {"associations": associations} if associations else {}
        for page in self._pages(lambda after: basic.get_page(
                limit=config.page_size, after=after, properties=properties, archived=archived,
                _request_timeout=config.timeout_seconds, **kwargs), f"{kind} read", context):
            out += page
        return out

    def _search(self, api: Any, context: SyncContext, kind: str, properties: list[str],
                since: datetime) -> list[Any] | None:
        """Records modified at or after ``since`` through the search API; None past its window."""
        from importlib import import_module

        models = import_module(f"hubspot.crm.{kind}")
        config: HubSpotConfig = self.settings()
        search = getattr(api.crm, kind).search_api
        millis = str(int(since.replace(tzinfo=timezone.utc).timestamp() * 1000))
        out: list[Any] = []
        after: str | None = None
        while True:
            request = models.PublicObjectSearchRequest(
                filter_groups=[models.FilterGroup(filters=[models.Filter(
                    property_name="hs_lastmodifieddate", operator="GTE", value=millis)])],
                sorts=["hs_lastmodifieddate"], properties=properties, limit=min(config.page_size, 100), after=after)
            page = self._call(lambda r=request: search.do_search(public_object_search_request=r,
                                                                 _request_timeout=config.timeout_seconds),
                              f"{kind} search")
            if after is None:
                if (page.total or 0) > SEARCH_WINDOW:
                    return None
                context.advance(0, total=page.total or 0)
            out += page.results or []
            context.advance(len(page.results or []))
            nxt = page.paging.next if page.paging is not None else None
            if nxt is None or not nxt.after:
                return out
            after = nxt.after

    def _read(self, api: Any, context: SyncContext, kind: str, properties: list[str],
              associations: list[str] | None = None) -> tuple[pd.DataFrame, list[str], str | None, bool]:
        """Flat records (id, properties, company_id) changed since the watermark, ids
        archived since then, the new watermark, and whether the read was complete."""
        since = context.since(kind)
        records = None
        if since is not None:
            records = self._search(api, context, kind, properties, since)
        complete = since is None
        if records is None:
            records = self._list(api, context, kind, properties, False, associations)
        frame = pd.DataFrame([{**(r.properties or {}), "id": r.id, "company_id": _first_company(r)} for r in records])
        if since is not None and not frame.empty and records is not None and "hs_lastmodifieddate" in frame.columns:
            stamps = pd.to_datetime(frame["hs_lastmodifieddate"], utc=True, format="ISO8601").dt.tz_localize(None)
            frame = frame[stamps >= pd.Timestamp(since)].reset_index(drop=True)
        deleted: list[str] = []
        if since is not None:
            gone = self._list(api, context, kind, ["hs_lastmodifieddate"], True)
            deleted = [r.id for r in gone if r.archived_at is None or r.archived_at.replace(tzinfo=None) >= since]
        mark = newest(frame["hs_lastmodifieddate"]) if not frame.empty and "hs_lastmodifieddate" in frame else None
        return frame, deleted, mark, complete

    def _objects(self, api: Any, context: SyncContext, kind: str) -> Batch:
        frame, deleted, mark, complete = self._read(api, context, kind, self._properties("accounts", []))
        rows = apply_mapping(frame, "accounts", self._mapping("accounts"), "id")
        return Batch("accounts", rows, deleted=deleted, stream=kind, watermark=mark, complete=complete,
                     records_read=len(frame) + len(deleted))

    def _deals(self, api: Any, context: SyncContext) -> Iterator[Batch]:
        config: HubSpotConfig = self.settings()
        pipelines = self._call(lambda: api.crm.pipelines.pipelines_api.get_all(
            object_type="deals", _request_timeout=config.timeout_seconds), "pipelines read").results
        stages = pd.DataFrame([
            {"pipeline": p.id, "stage_id": s.id, "stage_label": s.label,
             "is_closed": str((s.metadata or {}).get("isClosed", "false")).lower() == "true",
             "probability": str((s.metadata or {}).get("probability", "0"))}
            for p in pipelines for s in (p.stages or [])])
        if stages.empty:
            raise SourceError(f"HubSpot at {config.base_url} has no deal pipeline stages")
        stages["is_won"] = stages["is_closed"] & (stages["probability"].astype(float) >= 1.0)
        entered = [f"hs_date_entered_{s}" for s in stages["stage_id"]]
        properties = self._properties("opportunities", ["dealstage", "pipeline", *entered])
        frame, deleted, mark, complete = self._read(api, context, "deals", properties, ["companies"])
        if not frame.empty and not complete:
            frame["company_id"] = self._companies_of(api, list(frame["id"]))
        if not frame.empty and config.pipelines:
            frame = frame[frame["pipeline"].isin(config.pipelines)].reset_index(drop=True)
        if not frame.empty:
            frame = frame.merge(stages[["stage_id", "stage_label", "is_closed", "is_won"]],
                                left_on="dealstage", right_on="stage_id", how="left")
        n = len(frame) + len(deleted)
        if self._enabled("opportunities"):
            rows = apply_mapping(frame, "opportunities", self._mapping("opportunities"), "id")
            yield Batch("opportunities", rows, deleted=deleted, stream="deals", watermark=mark, complete=complete,
                        records_read=n)
        if self._enabled("opportunity_stage_history"):
            yield Batch("opportunity_stage_history", self._entries(frame, stages), complete=complete,
                        records_read=n)

    def _entries(self, deals: pd.DataFrame, stages: pd.DataFrame) -> pd.DataFrame:
        """One row per (deal, stage) with a ``hs_date_entered_<stage>`` date."""
        columns = [c for c in deals.columns if c.startswith("hs_date_entered_")]
        if deals.empty or not columns:
            return pd.DataFrame()
        long = deals[["id", *columns]].melt(id_vars="id", var_name="prop", value_name="entered").dropna()
        long["stage_id"] = long["prop"].str.removeprefix("hs_date_entered_")
        long = long.merge(stages[["stage_id", "stage_label"]], on="stage_id")
        long["deal_id"] = long["id"]
        long["entry_id"] = long["id"].astype(str) + ":" + long["stage_id"]
        return apply_mapping(long, "opportunity_stage_history", self._mapping("opportunity_stage_history"),
                             "entry_id")

    def _companies_of(self, api: Any, deal_ids: list[str]) -> list[str | None]:
        """The first associated company of each deal (v4 associations batch read)."""
        from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest

        batch = api.crm.associations.v4.batch_api
        found: dict[str, str] = {}
        for i in range(0, len(deal_ids), 1000):
            chunk = deal_ids[i:i + 1000]
            request = BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": d} for d in chunk])
            result = self._call(lambda r=request: batch.get_page(
                from_object_type="deals", to_object_type="companies",
                batch_input_public_fetch_associations_batch_request=r), "deal-company associations read")
            for item in result.results or []:
                if item.to:
                    found[str(item._from.id)] = str(item.to[0].to_object_id)
        return [found.get(str(d)) for d in deal_ids]


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) and not pd.isna(value) else None


def _first_company(record: Any) -> str | None:
    assoc = getattr(record, "associations", None) or {}
    companies = assoc.get("companies") if isinstance(assoc, dict) else None
    results = getattr(companies, "results", None) or []
    return str(results[0].id) if results else None
