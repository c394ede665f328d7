"""A local Salesforce (HTTPS on 127.0.0.1 with a trustme CA) serving the org of sf_org."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from sf_org import TOKEN, org

from spm_salesforce.testing import FakeSalesforce


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_bundle(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def salesforce(ca: trustme.CA) -> Iterator[FakeSalesforce]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with FakeSalesforce(org(), token=TOKEN, batch_size=3, ssl_context=context) as fake:
        yield fake


@pytest.fixture
def settings(salesforce: FakeSalesforce, ca_bundle: Path) -> dict[str, Any]:
    return {"type": "salesforce", "instance_url": salesforce.instance_url, "ca_bundle": str(ca_bundle),
            "retry": {"attempts": 4, "base_seconds": 0.01, "cap_seconds": 0.05},
            "opportunities": {"fields": {"product": "Product_Family__c"}, "annualize_by": "Contract_Years__c"},
            "payees": {"fields": {"role": "UserRole.Name"}, "values": {"role": {"Sales Manager": "manager", "AE": "rep"}},
                       "where": "UserType = 'Standard'"}}


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPM_SALESFORCE_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("SPM_CREDENTIALS", str(tmp_path / "no-credentials.yaml"))
