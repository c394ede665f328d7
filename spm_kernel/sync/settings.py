"""Which sources a workspace syncs from (``sources.yaml``) and where their credentials are.

``sources.yaml``, in the workspace folder, maps a name to a registered data source and its
settings::

    salesforce:                 # `spm sync salesforce`; the `source` written on every row
      type: salesforce          # a registered data source (default: the name itself)
      instance_url: https://acme.my.salesforce.com
      opportunities:
        fields: {product: Product_Family__c}

Credentials are the config fields typed ``SecretStr``. They are never read from
``sources.yaml`` (a workspace is shared and versioned; a secret there is refused). Each is
taken from the environment variable ``SPM_<NAME>_<FIELD>`` (``SPM_SALESFORCE_ACCESS_TOKEN``)
or from the credentials file, ``$SPM_CREDENTIALS`` or ``~/.config/spm/credentials.yaml``,
which must live outside the workspace::

    salesforce:
      access_token: 00D...

Relative paths in a source's settings are relative to the workspace folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from spm_kernel.errors import SPMError

if TYPE_CHECKING:
    from spm_kernel.extensions import DataSource
    from spm_kernel.workspace import Workspace

SOURCES_FILE = "sources.yaml"
CREDENTIALS_ENV = "SPM_CREDENTIALS"
DEFAULT_CREDENTIALS = Path("~/.config/spm/credentials.yaml")


def _yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SPMError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SPMError(f"{path}: expected a mapping of names to settings")
    return data


def read_sources(ws: Workspace) -> dict[str, dict[str, Any]]:
    """The entries of the workspace's ``sources.yaml`` ({} when there is none)."""
    path = ws.path / SOURCES_FILE
    if not path.exists():
        return {}
    data = _yaml(path)
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise SPMError(f"{path}: the settings of source {name!r} must be a mapping")
    return data


def credentials_path() -> Path:
    return Path(os.environ.get(CREDENTIALS_ENV) or DEFAULT_CREDENTIALS).expanduser().resolve()


def secret_fields(model: type[BaseModel]) -> list[str]:
    """The fields of ``model`` that are credentials (typed ``SecretStr``)."""
    out = []
    for name, info in model.model_fields.items():
        if SecretStr in (info.annotation, *getattr(info.annotation, "__args__", ())):
            out.append(name)
    return out


def env_name(source: str, field: str) -> str:
    return "SPM_" + re.sub(r"[^A-Z0-9]+", "_", f"{source}_{field}".upper())


def _credentials(ws: Workspace, name: str, fields: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    path = credentials_path()
    file_entry: dict[str, Any] = {}
    if fields and path.exists():
        if path.is_relative_to(ws.path):
            raise SPMError(f"the credentials file {path} is inside the workspace {ws.path}; keep "
                           f"credentials outside it (set {CREDENTIALS_ENV} to another path)")
        entry = _yaml(path).get(name) or {}
        file_entry = entry if isinstance(entry, dict) else {}
    for field in fields:
        value = os.environ.get(env_name(name, field)) or file_entry.get(field)
        if value:
            found[field] = str(value)
    return found


def configured_source(ws: Workspace, name: str) -> DataSource:
    """The source ``name`` of ``sources.yaml``, configured and with its credentials."""
    entries = read_sources(ws)
    if name not in entries:
        known = ", ".join(sorted(entries)) or f"none (create {ws.path / SOURCES_FILE})"
        raise SPMError(f"no source {name!r} in {SOURCES_FILE}; configured sources: {known}")
    return source_from_settings(ws, name, entries[name])


def source_from_settings(ws: Workspace, name: str, entry: dict[str, Any]) -> DataSource:
    """Configure a registered data source from settings (as in ``sources.yaml``)."""
    settings = dict(entry)
    kind = str(settings.pop("type", name))
    try:
        source = ws.registry.data_sources[kind]
    except KeyError as exc:
        raise SPMError(f"source {name!r}: {exc.args[0]}") from None
    secrets = secret_fields(source.config_model)
    leaked = sorted(set(secrets) & set(settings))
    if leaked:
        raise SPMError(
            f"source {name!r}: {SOURCES_FILE} must not hold credentials ({', '.join(leaked)}); remove "
            f"them and set {', '.join(env_name(name, f) for f in leaked)} or put them in "
            f"{credentials_path()} under {name!r}")
    settings.update(_credentials(ws, name, secrets))
    try:
        config = source.config_model.model_validate(settings)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
        missing = [f for f in secrets if f not in settings]
        hint = (f" (credentials come from {', '.join(env_name(name, f) for f in missing)} or "
                f"{credentials_path()})") if missing else ""
        raise SPMError(f"source {name!r} is not configured correctly: {problems}{hint}") from None
    for field in type(config).model_fields:
        value = getattr(config, field)
        if isinstance(value, Path) and not value.is_absolute():
            setattr(config, field, (ws.path / value).resolve())
    return source.configure(config, instance=name)
