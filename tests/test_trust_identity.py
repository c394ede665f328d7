"""Sign-in pieces without a browser (issue 9, section 2): the Voila command line, the
identity headers the server writes and the kernel reads, the cookie secret, the users the
server sees. The browser tests are in
tests/test_app_login.py."""

from __future__ import annotations

import asyncio
import json
import stat
import sys
import threading
import types
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import pandas as pd
import pytest
from jupyter_server.auth.identity import User as JupyterUser
from tornado.httputil import HTTPHeaders

from spm_kernel.app_server import voila_command
from spm_kernel.auth.identity import (
    SPMIdentityProvider,
    UserDirectory,
    cookie_secret,
    read_users,
    with_authentication,
)
from spm_kernel.auth.app_user import AppUser, signed_in
from spm_kernel.errors import SPMError
from spm_kernel.auth.users import add_user, set_active
from spm_kernel.workspace import Workspace, open_workspace


def _people(ws: Workspace) -> Workspace:
    ws.load("payees", pd.DataFrame({"payee_id": ["P1"], "name": ["Ria"], "role": ["rep"], "currency": ["USD"],
                                    "hire_date": ["2024-01-01"]}))
    return ws


def _apps(tmp_path: Path) -> Path:
    apps = tmp_path / "apps"
    apps.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    nb.metadata["spm"] = {"per_user": True}
    nbformat.write(nb, apps / "mine.ipynb")
    return apps


def test_without_users_the_command_is_unchanged_and_with_users_sign_in_is_on(
        spm_workspace: Workspace, tmp_path: Path) -> None:
    folder = _people(spm_workspace).path
    spm_workspace.close()  # `spm app` reads the users read-only, as another process would
    command = voila_command(_apps(tmp_path), 8899)
    assert with_authentication(command, folder) == command  # nobody may sign in: local use as before
    with open_workspace(folder) as ws:
        add_user(ws, "ria", "rep", payee_id="P1", password="ria-password", actor="test")
    signed = with_authentication(command, folder)
    # kernels stay pre-heated: a notebook waits for the page request before it reads the user
    assert signed[:len(command)] == command and "--preheat_kernel=True" in signed
    (config_arg,) = [a for a in signed if a.startswith("--Voila.config_file_paths=")]
    config_dir = Path(json.loads(config_arg.split("=", 1)[1])[0])
    config = (config_dir / "voila.py").read_text()
    assert "c.Voila.identity_provider_class = SPMIdentityProvider" in config
    assert 'c.VoilaConfiguration.http_header_envs = ["X-SPM-Username", "X-SPM-User", "X-SPM-Role"]' in config
    assert "prelaunch_hook" not in config  # Voila refuses one together with pre-heated kernels
    assert json.dumps(str(folder.resolve())) in config
    with open_workspace(folder) as ws:
        set_active(ws, "ria", False, actor="test")
    assert with_authentication(command, folder) == command  # no active user left


def test_the_cookie_secret_is_created_once_and_private(tmp_path: Path) -> None:
    first = cookie_secret(tmp_path)
    assert len(first) == 32 and cookie_secret(tmp_path) == first
    mode = (tmp_path / ".spm" / "cookie_secret").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def _run(coroutine: Any) -> Any:
    """Run ``coroutine`` to the end on a thread of its own (the session's Playwright browser
    may own this thread's event loop)."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(asyncio.run(coroutine)))
    thread.start()
    thread.join()
    return out[0]


def _handler(user: JupyterUser | None, headers: dict[str, str]) -> Any:
    return SimpleNamespace(_jupyter_current_user=user, request=SimpleNamespace(headers=HTTPHeaders(headers)))


def test_the_server_writes_the_identity_headers_and_drops_the_browsers(
        spm_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = _people(spm_workspace)
    add_user(ws, "ria", "rep", payee_id="P1", password="ria-password", actor="test")
    add_user(ws, "ana@corp", "analyst", password="ana-password", actor="test")
    add_user(ws, "gone", "finance", password="gone-password", actor="test")
    set_active(ws, "gone", False, actor="test")
    folder = ws.path
    ws.close()
    provider = SPMIdentityProvider(workspace=str(folder))
    forged = {"X-SPM-Username": "an%20a", "x-spm-user": "P9", "X-SPM-Role": "admin", "Accept": "text/html"}
    handler = _handler(JupyterUser("ria"), forged)
    assert _run(provider.get_user(handler)).username == "ria"
    headers = handler.request.headers
    assert (headers["X-SPM-Username"], headers["X-SPM-User"], headers["X-SPM-Role"]) == ("ria", "P1", "rep")
    assert headers.get_list("X-SPM-User") == ["P1"] and headers["Accept"] == "text/html"
    analyst = _handler(JupyterUser("ana@corp"), {})
    _run(provider.get_user(analyst))
    assert analyst.request.headers["X-SPM-Username"] == "ana%40corp"  # percent-encoded
    assert analyst.request.headers["X-SPM-User"] == "ana%40corp"  # no payee: the username
    for user in (JupyterUser("gone"), JupyterUser("nobody")):  # deactivated, unknown: no user, no headers
        refused = _handler(user, forged)
        assert _run(provider.get_user(refused)) is None
        assert not [h for h in refused.request.headers if h.lower().startswith("x-spm")]

    async def nobody(handler: Any) -> None:
        return None

    monkeypatch.setattr(provider, "_get_user", nobody)  # no cookie at all
    anonymous = _handler(None, forged)
    assert _run(provider.get_user(anonymous)) is None
    assert not [h for h in anonymous.request.headers if h.lower().startswith("x-spm")]


def test_the_kernel_reads_the_user_from_the_request_only_behind_sign_in(monkeypatch: pytest.MonkeyPatch) -> None:
    main = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.delenv("SPM_SIGN_IN", raising=False)
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    monkeypatch.setenv("HTTP_X_SPM_USERNAME", "ria")
    assert signed_in() is None  # no sign-in: one user, the apps' SPM_USER
    monkeypatch.setenv("SPM_SIGN_IN", "1")
    monkeypatch.setenv("SPM_USER", "P9")  # the server's environment is not the request
    with pytest.raises(SPMError, match="Sign in"):
        signed_in()  # the username alone is not enough
    monkeypatch.setenv("HTTP_X_SPM_USERNAME", "an%20a")
    monkeypatch.setenv("HTTP_X_SPM_USER", "an%20a")
    monkeypatch.setenv("HTTP_X_SPM_ROLE", "analyst")
    assert signed_in() == AppUser("an a", "an a", "analyst")
    assert (main.SPM_USERNAME, main.SPM_USER, main.SPM_ROLE) == ("an a", "an a", "analyst")
    monkeypatch.setenv("HTTP_X_SPM_USERNAME", "ria")
    assert signed_in().username == "an a"  # one page, one user: read once


def test_the_identity_provider_checks_passwords_and_active_users(spm_workspace: Workspace) -> None:
    ws = _people(spm_workspace)
    add_user(ws, "ria", "rep", payee_id="P1", password="ria-password", actor="test")
    add_user(ws, "nopass", "finance", actor="test")
    folder = ws.path
    ws.close()
    assert set(read_users(folder)) == {"ria", "nopass"}
    provider = SPMIdentityProvider(workspace=str(folder))
    assert provider.token == "" and provider.auth_enabled and provider.login_available
    assert [path for path, _ in provider.get_handlers()] == ["/login", "/logout"]

    def form(username: str, password: str) -> Any:
        args = {"username": username, "password": password}
        return SimpleNamespace(get_argument=lambda name, default="": args.get(name, default),
                               request=SimpleNamespace(remote_ip="127.0.0.1"))

    user = provider.process_login_form(form("ria", "ria-password"))
    assert user is not None and user.username == "ria"
    for username, password in (("ria", "wrong"), ("nopass", ""), ("nopass", "anything"), ("", ""), ("eve", "x")):
        assert provider.process_login_form(form(username, password)) is None
