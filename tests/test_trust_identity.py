"""Sign-in pieces without a browser (issue 9, section 2): the Voila command line, the
prelaunch hook, the cookie secret, the users the server sees. The browser tests are in
tests/test_app_login.py."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import pandas as pd
import pytest
from jupyter_server.auth.identity import User as JupyterUser
from tornado.web import HTTPError

from spm_kernel.app_server import voila_command
from spm_kernel.auth.identity import (
    SPMIdentityProvider,
    UserDirectory,
    cookie_secret,
    prelaunch_hook,
    read_users,
    user_cell,
    with_authentication,
)
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
    assert "--preheat_kernel=False" in signed and "--preheat_kernel=True" not in signed
    assert not any(a.startswith("--VoilaKernelManager.preheat_denylist") for a in signed)
    (config_arg,) = [a for a in signed if a.startswith("--Voila.config_file_paths=")]
    config_dir = Path(json.loads(config_arg.split("=", 1)[1])[0])
    config = (config_dir / "voila.py").read_text()
    assert "c.Voila.identity_provider_class = SPMIdentityProvider" in config
    assert "c.VoilaConfiguration.prelaunch_hook = prelaunch_hook" in config
    assert json.dumps(str(folder.resolve())) in config
    with open_workspace(folder) as ws:
        set_active(ws, "ria", False, actor="test")
    assert with_authentication(command, folder) == command  # no active user left


def test_the_cookie_secret_is_created_once_and_private(tmp_path: Path) -> None:
    first = cookie_secret(tmp_path)
    assert len(first) == 32 and cookie_secret(tmp_path) == first
    mode = (tmp_path / ".spm" / "cookie_secret").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_the_inserted_cell_sets_the_user_and_quotes_safely() -> None:
    cell = user_cell({"username": "ria", "payee_id": "P1", "role": "rep"})
    scope: dict[str, Any] = {}
    exec(cell, scope)  # noqa: S102 - the cell is what the kernel will run
    assert (scope["SPM_USERNAME"], scope["SPM_USER"], scope["SPM_ROLE"]) == ("ria", "P1", "rep")
    analyst: dict[str, Any] = {}
    exec(user_cell({"username": "ana", "payee_id": None, "role": "analyst"}), analyst)  # noqa: S102
    assert analyst["SPM_USER"] == "ana"
    hostile: dict[str, Any] = {}
    exec(user_cell({"username": 'x"; import os  #', "payee_id": None, "role": "rep"}), hostile)  # noqa: S102
    assert hostile["SPM_USERNAME"] == 'x"; import os  #' and "os" not in hostile


def _request(user: Any, directory: UserDirectory | None) -> Any:
    return SimpleNamespace(current_user=user, settings={"identity_provider": SimpleNamespace(directory=directory)})


def test_the_prelaunch_hook_inserts_the_signed_in_user_or_refuses(spm_workspace: Workspace) -> None:
    ws = _people(spm_workspace)
    add_user(ws, "ria", "rep", payee_id="P1", password="ria-password", actor="test")
    add_user(ws, "gone", "finance", password="gone-password", actor="test")
    set_active(ws, "gone", False, actor="test")
    folder = ws.path
    ws.close()  # the server reads the users read-only
    directory = UserDirectory(folder)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("show(SPM_USER)")])
    out = prelaunch_hook(_request(JupyterUser("ria"), directory), nb, str(folder))
    assert len(out.cells) == 2 and 'SPM_USER = "P1"' in out.cells[0].source
    assert out.cells[1].source == "show(SPM_USER)"
    for user in (None, JupyterUser("gone"), JupyterUser("nobody")):
        with pytest.raises(HTTPError) as refused:
            prelaunch_hook(_request(user, directory), nbformat.v4.new_notebook(), str(folder))
        assert refused.value.status_code == 403


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
