"""Every command `spm --help` lists has a row in docs/cli.md's command table, whose link
points to a page that exists and mentions the command."""

from __future__ import annotations

import re
from pathlib import Path

from typer.main import get_command

from spm_kernel.cli import build_app

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_command_is_in_the_cli_table_with_a_working_link() -> None:
    commands = sorted(get_command(build_app()).commands)  # type: ignore[attr-defined]
    text = (DOCS / "cli.md").read_text("utf-8")
    rows = dict(re.findall(r"^\| \[`spm (\w[\w-]*)[^`]*`\]\(([^)]+)\)", text, flags=re.M))
    missing = [c for c in commands if c not in rows]
    assert not missing, f"docs/cli.md has no row for: {', '.join(missing)}"
    for command, link in rows.items():
        page = link.split("#")[0] or "cli.md"
        assert (DOCS / page).exists(), f"spm {command}: docs/{page} does not exist"
        assert f"spm {command}" in (DOCS / page).read_text("utf-8"), f"docs/{page} never mentions `spm {command}`"
