"""A local HubSpot (HTTP on 127.0.0.1) serving the account of hs_account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hs_account import TOKEN, objects, owners, pipelines

from spm_hubspot.testing import FakeHubSpot


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(owners(), pipelines(), objects(), token=TOKEN, page_size=3) as fake:
        yield fake


@pytest.fixture
def settings(hubspot: FakeHubSpot) -> dict[str, Any]:
    return {"type": "hubspot", "base_url": hubspot.url, "region_name": "North America",
            "retry": {"attempts": 3, "base_seconds": 0.01, "cap_seconds": 2},
            "opportunities": {"fields": {"product": "product_line"}}}


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPM_HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("SPM_CREDENTIALS", str(tmp_path / "no-credentials.yaml"))
