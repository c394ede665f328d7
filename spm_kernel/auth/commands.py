"""``spm users`` (add, list, set-role, set-password, deactivate, activate) and ``spm audit``
(verify, log, head): registered through the ``spm_cli_commands`` hook (a built-in plugin in
``DEFAULT_PLUGINS``).

Passwords are never taken as command-line arguments (they would end up in the shell's
history): ``--password`` prompts (hidden, twice), or reads one line from stdin with
``--password-stdin``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from spm_kernel.hookspecs import hookimpl


def _password(prompt: bool, stdin: bool) -> str | None:
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if prompt:
        return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))
    return None


@hookimpl(trylast=True)
def spm_cli_commands(app: typer.Typer) -> None:
    from spm_kernel.builtin.commands import WORKSPACE_OPTION, cli_errors, open_ws, text_table

    users = typer.Typer(help="Who may sign in to the apps, with which role (admin, analyst, finance, manager, rep).",
                        no_args_is_help=True)
    app.add_typer(users, name="users")
    actor_option = typer.Option(None, "--actor", help="who makes the change (default: your login name)")

    @users.command("add")
    def users_add(username: str = typer.Argument(..., help="the sign-in name"),
                  role: str = typer.Option(..., "--role", help="admin, analyst, finance, manager or rep"),
                  payee: str = typer.Option(None, "--payee", help="the payee a manager or rep is"),
                  name: str = typer.Option(None, "--name", help="display name"),
                  password: bool = typer.Option(False, "--password", help="prompt for a password"),
                  password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from stdin"),
                  workspace: Path = WORKSPACE_OPTION, actor: str = actor_option) -> None:
        """Add a user (audited)."""
        from spm_kernel.auth.users import add_user
        from spm_kernel.engine.audit import default_actor

        with cli_errors():
            secret = _password(password, password_stdin)
            with open_ws(workspace) as ws:
                user = add_user(ws, username, role, payee_id=payee, password=secret, display_name=name,
                                actor=actor or default_actor())
            typer.echo(f"added {user}" + (f" as payee {user.payee_id}" if user.payee_id else ""))

    @users.command("list")
    def users_list(workspace: Path = WORKSPACE_OPTION) -> None:
        """List the users, their roles and payees (never their password hashes)."""
        from spm_kernel.auth.users import list_users

        with cli_errors(), open_ws(workspace, read_only=True) as ws:
            frame = list_users(ws)
        rows = [[r.username, r.role, r.payee_id or "", r.display_name or "", "yes" if r.active else "no",
                 "yes" if r.has_password else "no"] for r in frame.itertuples()]
        typer.echo(text_table(["username", "role", "payee", "name", "active", "password"], rows)
                   if rows else "no users yet: add one with `spm users add NAME --role ROLE`")

    @users.command("set-role")
    def users_set_role(username: str = typer.Argument(...), role: str = typer.Argument(..., help="the new role"),
                       payee: str = typer.Option(None, "--payee", help="change the linked payee too"),
                       workspace: Path = WORKSPACE_OPTION, actor: str = actor_option) -> None:
        """Change a user's role (audited with the role before and after)."""
        from spm_kernel.auth.users import set_role
        from spm_kernel.engine.audit import default_actor

        with cli_errors(), open_ws(workspace) as ws:
            user = set_role(ws, username, role, payee_id=payee, actor=actor or default_actor())
        typer.echo(f"{user.username} is now {user.role}" + (f" (payee {user.payee_id})" if user.payee_id else ""))

    @users.command("set-password")
    def users_set_password(username: str = typer.Argument(...),
                           password_stdin: bool = typer.Option(False, "--password-stdin",
                                                               help="read the password from stdin"),
                           workspace: Path = WORKSPACE_OPTION, actor: str = actor_option) -> None:
        """Set a user's password (prompted, hidden; audited without the hash)."""
        from spm_kernel.auth.users import set_password
        from spm_kernel.engine.audit import default_actor

        with cli_errors():
            secret = _password(True, password_stdin) or ""
            with open_ws(workspace) as ws:
                set_password(ws, username, secret, actor=actor or default_actor())
        typer.echo(f"password of {username} changed")

    for verb, flag in (("deactivate", False), ("activate", True)):
        def toggle(username: str = typer.Argument(...), workspace: Path = WORKSPACE_OPTION,
                   actor: str = actor_option, _flag: bool = flag) -> None:
            from spm_kernel.auth.users import set_active
            from spm_kernel.engine.audit import default_actor

            with cli_errors(), open_ws(workspace) as ws:
                set_active(ws, username, _flag, actor=actor or default_actor())
            typer.echo(f"{username} {'activated' if _flag else 'deactivated'}")

        toggle.__doc__ = f"{verb.capitalize()} a user (they {'may' if flag else 'can no longer'} sign in; audited)."
        users.command(verb)(toggle)

    audit = typer.Typer(help="The tamper-evident audit log: verify its hash chain, read it.", no_args_is_help=True)
    app.add_typer(audit, name="audit")

    @audit.command("verify")
    def audit_verify(workspace: Path = WORKSPACE_OPTION,
                     anchor: str = typer.Option(None, "--anchor", help="SEQ:HASH printed earlier by `spm audit head`")
                     ) -> None:
        """Check the audit log's hash chain; exit code 1 if any entry was edited, inserted or deleted."""
        from spm_kernel.engine.audit import verify_audit
        from spm_kernel.errors import SPMError

        with cli_errors():
            pin = None
            if anchor:
                seq, _, digest = anchor.partition(":")
                if not seq.isdigit() or len(digest) != 64:
                    raise SPMError(f"--anchor {anchor!r}: expected SEQ:HASH as printed by `spm audit head`")
                pin = (int(seq), digest)
            with open_ws(workspace, read_only=True) as ws:
                report = verify_audit(ws.con, anchor=pin)
        if not report.ok:
            typer.secho(str(report), err=True, fg=typer.colors.RED)
            raise typer.Exit(1)
        typer.echo(str(report))

    @audit.command("head")
    def audit_head(workspace: Path = WORKSPACE_OPTION) -> None:
        """Print the newest entry as SEQ:HASH; keep it elsewhere to detect deleted newest entries later."""
        from spm_kernel.engine.audit import verify_audit

        with cli_errors(), open_ws(workspace, read_only=True) as ws:
            report = verify_audit(ws.con)
        typer.echo(f"{report.head_seq}:{report.head_hash}")

    @audit.command("log")
    def audit_log(workspace: Path = WORKSPACE_OPTION,
                  entity: str = typer.Option(None, help="e.g. user:ana, period:2026-03, table:payees"),
                  action: str = typer.Option(None, help="e.g. import, calculate, close_period"),
                  actor: str = typer.Option(None, help="who made the changes"),
                  limit: int = typer.Option(50, help="newest entries to show")) -> None:
        """Show the newest audit entries (who, when, what)."""
        from spm_kernel.engine.audit import audit_entries

        with cli_errors(), open_ws(workspace, read_only=True) as ws:
            frame = audit_entries(ws.con, entity=entity, action=action, actor=actor, limit=limit)
        rows = [[str(r.seq), str(r.occurred_at)[:19], r.actor, r.action, r.entity, (r.detail or "")[:70]]
                for r in frame.itertuples()]
        typer.echo(text_table(["seq", "when (UTC)", "who", "action", "entity", "detail"], rows)
                   if rows else "the audit log is empty")
