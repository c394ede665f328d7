"""Signing in to the apps: the Jupyter server's own authentication, configured from the
workspace's ``users`` table, and the signed-in user handed to each notebook.

Contracts:

* :class:`SPMIdentityProvider` (a ``jupyter_server.auth.IdentityProvider``) checks a
  username and password against ``users`` (``jupyter_server.auth.passwd`` hashes; inactive
  users cannot sign in) and keeps the user in a signed cookie. A request without a valid
  cookie gets the login page (``/login``, with a username field); ``/logout`` clears the
  cookie and says so. Tokens in URLs are not accepted. The users are re-read from the
  workspace at most every :data:`REFRESH_SECONDS`, so a deactivated user or a changed role is
  noticed within seconds (an existing cookie of a deactivated user stops working).
* The cookie secret is persistent: ``.spm/cookie_secret`` in the workspace (created once,
  mode 0600), so restarting the server does not sign everyone out.
* The notebook learns who is signed in from the request (:mod:`spm_kernel.auth.app_user`):
  on every authenticated request :meth:`SPMIdentityProvider.get_user` removes any
  ``X-SPM-Username`` / ``X-SPM-User`` / ``X-SPM-Role`` header the browser sent and writes
  them itself from the ``users`` row (percent-encoded); Voila passes exactly these headers to
  the kernel that serves the page (``VoilaConfiguration.http_header_envs``). The notebook
  never takes the user from the URL, the query string or a header the browser chose.
* :func:`with_authentication` turns the ``spm app`` Voila command line into a signed-in
  one when the workspace has active users (else it is returned unchanged: a workspace
  without users is served for local, single-person use, as before). Kernels stay
  pre-heated: a pre-heated notebook runs its imports before anybody asks, and waits for the
  page request before it reads any data (``app_user.signed_in``), so nothing that depends
  on who is looking is computed before the request.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import duckdb
from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.auth.login import LoginFormHandler
from jupyter_server.auth.security import passwd_check
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from traitlets import Unicode, default

from spm_kernel.auth.app_user import IDENTITY_HEADERS
from spm_kernel.errors import SPMError

REFRESH_SECONDS = 5.0
SECRET_DIR = ".spm"
SECRET_FILE = "cookie_secret"
CONFIG_DIR = "voila"
WORKSPACE_ENV = "SPM_WORKSPACE"
DATABASE_FILE = "workspace.duckdb"


# ---- the workspace's users, as the server sees them ----
def read_users(workspace: Path) -> dict[str, dict[str, Any]]:
    """Every user row of the workspace by username (read-only, closed straight away)."""
    con = duckdb.connect(str(Path(workspace) / DATABASE_FILE), read_only=True)
    try:
        present = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'users'").fetchall()
        if not present[0][0]:
            return {}
        rows = con.execute("SELECT username, role, payee_id, display_name, password_hash, active FROM users").fetchall()
    finally:
        con.close()
    names = ("username", "role", "payee_id", "display_name", "password_hash", "active")
    return {r[0]: dict(zip(names, r)) for r in rows}


def has_active_users(workspace: Path) -> bool:
    """Whether anyone may sign in to this workspace's apps (SPMError if it cannot be read)."""
    try:
        return any(u["active"] for u in read_users(workspace).values())
    except duckdb.Error as exc:
        raise SPMError(f"cannot read the users of {workspace}: {exc}") from None


class UserDirectory:
    """The users of one workspace, cached for :data:`REFRESH_SECONDS`; when the database is
    briefly locked by a writer, the last copy read is used."""

    def __init__(self, workspace: Path, refresh: float = REFRESH_SECONDS) -> None:
        self.workspace = Path(workspace)
        self.refresh = refresh
        self._users: dict[str, dict[str, Any]] | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def users(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            if self._users is None or time.monotonic() - self._read_at > self.refresh:
                try:
                    self._users = read_users(self.workspace)
                    self._read_at = time.monotonic()
                except duckdb.Error:
                    if self._users is None:
                        raise
            return self._users

    def active(self, username: str) -> dict[str, Any] | None:
        row = self.users().get(username)
        return row if row is not None and row["active"] else None


def cookie_secret(workspace: Path) -> bytes:
    """The workspace's persistent cookie secret (created on first use, readable by its owner only)."""
    folder = Path(workspace) / SECRET_DIR
    path = folder / SECRET_FILE
    if not path.exists():
        folder.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


# ---- the identity provider and its pages ----
def _page(title: str, body: str) -> str:
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: -apple-system, "Segoe UI", Roboto, Arial, sans-serif; background: #f3f5f8; color: #1f2937; }}
.spm-login {{ max-width: 360px; margin: 12vh auto; background: #fff; border: 1px solid #e5e7eb;
  border-radius: 10px; padding: 28px 32px; box-shadow: 0 1px 3px rgba(16,24,40,.08); }}
.spm-login h1 {{ font-size: 20px; color: #0f2a4a; margin: 0 0 18px; }}
.spm-login label {{ display: block; font-size: 12px; font-weight: 600; color: #6b7280; margin: 12px 0 4px; }}
.spm-login input {{ width: 100%; box-sizing: border-box; padding: 8px 10px; border: 1px solid #cbd2dc;
  border-radius: 6px; font-size: 14px; }}
.spm-login button {{ margin-top: 18px; width: 100%; padding: 9px; border: 0; border-radius: 6px;
  background: #1d4e89; color: #fff; font-size: 14px; font-weight: 600; cursor: pointer; }}
.spm-login-error {{ background: #fff5f5; border: 1px solid #f5c2c2; color: #7f1d1d; border-radius: 6px;
  padding: 8px 10px; font-size: 13px; }}
.spm-login-info {{ background: #f0fbf4; border: 1px solid #b7e4c7; color: #14532d; border-radius: 6px;
  padding: 8px 10px; font-size: 13px; }}
</style></head><body>{body}</body></html>"""


class SPMLoginHandler(LoginFormHandler):
    """``/login``: a username and password form; a wrong pair gets 401 and the form again."""

    def _render(self, message: dict[str, str] | None = None) -> None:
        error = (f'<p class="spm-login-error" role="alert">{html.escape(message["error"])}</p>'
                 if message and "error" in message else "")
        next_url = self.get_argument("next", default=self.base_url)
        self.write(_page("Sign in", f"""<main class="spm-login"><h1>Sign in to the SPM workbench</h1>{error}
<form method="post" action="{html.escape(self.base_url)}login?next={html.escape(web.escape.url_escape(next_url))}">
{self.xsrf_form_html()}
<label for="spm-username">Username</label>
<input id="spm-username" name="username" type="text" autocomplete="username" autofocus required>
<label for="spm-password">Password</label>
<input id="spm-password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" class="spm-login-submit">Sign in</button>
</form></main>"""))


class SPMLogoutHandler(JupyterHandler):
    """``/logout``: clears the login cookie and says so, with a link back to the login page."""

    auth_resource = "logout"

    def get(self) -> None:
        self.identity_provider.clear_login_cookie(self)
        self.write(_page("Signed out", f"""<main class="spm-login"><h1>Signed out</h1>
<p class="spm-login-info spm-logged-out">You are signed out.</p>
<p><a href="{html.escape(self.base_url)}login">Sign in again</a></p></main>"""))

    def check_xsrf_cookie(self) -> None:
        return None


# jupyter_server marks handlers that may be reached without a user; the logout page must be.
try:
    from jupyter_server.auth.decorator import allow_unauthenticated

    SPMLogoutHandler.get = allow_unauthenticated(SPMLogoutHandler.get)  # type: ignore[method-assign]
except ImportError:  # pragma: no cover - older jupyter_server
    pass


class SPMIdentityProvider(IdentityProvider):
    """Users and passwords from the workspace's ``users`` table (see the module docstring)."""

    workspace = Unicode(help="the workspace folder whose users may sign in").tag(config=True)

    @default("workspace")
    def _workspace_default(self) -> str:
        return os.environ.get(WORKSPACE_ENV, "")

    @default("token")
    def _token_default(self) -> str:
        return ""

    @default("login_handler_class")
    def _login_handler_default(self) -> type:
        return SPMLoginHandler

    @default("logout_handler_class")
    def _logout_handler_default(self) -> type:
        return SPMLogoutHandler

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("login_handler_class", None)  # Voila passes its own (password-only) form
        kwargs["token"] = ""  # no shared token: every request belongs to a signed-in user
        super().__init__(**kwargs)
        if not self.workspace:
            raise SPMError(f"SPMIdentityProvider needs the workspace folder (config or {WORKSPACE_ENV})")
        self.directory = UserDirectory(Path(self.workspace))
        parent = kwargs.get("parent")
        if parent is not None and hasattr(parent, "cookie_secret"):
            parent.cookie_secret = cookie_secret(Path(self.workspace))  # persistent, never on a command line

    @property
    def auth_enabled(self) -> bool:
        return True

    @property
    def login_available(self) -> bool:
        return True

    def get_handlers(self) -> list[tuple[str, object]]:
        return [(r"/login", SPMLoginHandler), (r"/logout", SPMLogoutHandler)]

    def _user(self, row: dict[str, Any]) -> User:
        name = row["display_name"] or row["username"]
        return User(username=row["username"], name=name, display_name=name)

    def process_login_form(self, handler: web.RequestHandler) -> User | None:
        username = handler.get_argument("username", default="").strip()
        password = handler.get_argument("password", default="")
        row = self.directory.active(username) if username else None
        if row is None or not row["password_hash"] or not passwd_check(row["password_hash"], password):
            self.log.warning("failed sign-in for %r from %s", username[:64], handler.request.remote_ip)
            return None
        return self._user(row)

    async def get_user(self, handler: web.RequestHandler) -> User | None:  # type: ignore[override]
        """The signed-in user of ``handler``'s request, and the identity headers the kernel
        serving the request reads: any the browser sent are removed first, then written from
        the user's row (see the module docstring)."""
        headers = handler.request.headers
        for name in IDENTITY_HEADERS:
            if name in headers:
                del headers[name]
        user = await self._get_user(handler)
        row = self.directory.active(user.username) if user is not None else None
        if row is None:
            return None
        for name, value in identity_headers(row).items():
            headers[name] = value
        return user

    def get_user_cookie(self, handler: web.RequestHandler) -> Any:
        user = super().get_user_cookie(handler)
        if not isinstance(user, User):
            return None
        row = self.directory.active(user.username)
        return self._user(row) if row is not None else None  # deactivated since: signed out


def identity_headers(row: dict[str, Any]) -> dict[str, str]:
    """The identity headers of ``row``'s user (percent-encoded: a header carries ASCII only)."""
    values = {"SPM_USERNAME": row["username"], "SPM_USER": row["payee_id"] or row["username"],
              "SPM_ROLE": row["role"]}
    return {header: urllib.parse.quote(str(values[var]), safe="") for header, var in IDENTITY_HEADERS.items()}


# ---- spm app ----
def voila_config(workspace: Path) -> Path:
    """Write the Voila config file that turns sign-in on for ``workspace``; returns its folder."""
    folder = Path(workspace) / SECRET_DIR / CONFIG_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "voila.py").write_text(
        "# Written by `spm app` (spm_kernel.auth.identity): sign-in from the workspace's users.\n"
        "from spm_kernel.auth.identity import SPMIdentityProvider\n"
        "c.Voila.identity_provider_class = SPMIdentityProvider\n"
        f"c.SPMIdentityProvider.workspace = {json.dumps(str(Path(workspace).resolve()))}\n"
        f"c.VoilaConfiguration.http_header_envs = {json.dumps(list(IDENTITY_HEADERS))}\n", "utf-8")
    return folder


def with_authentication(command: list[str], workspace: Path) -> list[str]:
    """``command`` (from ``app_server.voila_command``) with sign-in when ``workspace`` has users."""
    if not has_active_users(Path(workspace)):
        return command
    folder = voila_config(Path(workspace))
    return [*command, f"--Voila.config_file_paths={json.dumps([str(folder)])}"]
