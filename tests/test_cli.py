"""The ``spm`` command line: help on every command, ``import``, ``plugins``, ``app`` and its
errors (one line, exit code 1, never a traceback)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import spm_kernel
from spm_kernel import app_server
from spm_kernel.builtin.commands import format_plugins, text_table
from spm_kernel.cli import build_app
from spm_kernel.plugins import PluginLoadWarning, _load_entry_point, make_plugin_manager
from spm_kernel.store.schema import TABLES
from tests.plugin_dists import install_fake_dist

SPM = Path(sys.executable).parent / "spm"
COMMANDS = ("init", "import", "plugins", "app")


def run(*args: str, env: dict[str, str] | None = None):  # noqa: ANN201 - typer's Result
    return CliRunner().invoke(build_app(), list(args), env=env)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace with two regions and three teams, closed (the CLI opens it itself)."""
    folder = tmp_path / "ws"
    with spm_kernel.open(folder) as ws:
        ws.load("regions", pd.DataFrame({"region_id": ["NA", "EU"], "name": ["North America", "Europe"]}))
        ws.load("teams", pd.DataFrame({"team_id": ["T1", "T2", "T3"], "name": ["East", "West", "North"],
                                       "region_id": ["NA", "NA", "EU"]}))
    return folder


def snapshot(folder: Path) -> dict[str, pd.DataFrame]:
    """Every table of the workspace, for before/after comparisons."""
    with spm_kernel.open(folder, read_only=True) as ws:
        return {spec.name: ws.table(spec.name) for spec in TABLES}


def assert_unchanged(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> None:
    assert before.keys() == after.keys()
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


GOOD_PAYEES = """payee_id,name,role,team_id,currency,hire_date
P1,Ana Silva,rep,T1,USD,2023-01-09
P2,Ben Okafor,rep,T2,EUR,2023-03-01
P3,Chloe Martin,manager,T3,GBP,2022-11-14
"""
# line 3: unknown team; line 4: bad date; line 5: missing name; line 6: role not allowed
BAD_PAYEES = """payee_id,name,role,team_id,currency,hire_date
P1,Ana Silva,rep,T1,USD,2023-01-09
P2,Ben Okafor,rep,T9,EUR,2023-03-01
P3,Chloe Martin,manager,T3,GBP,2023-02-30
P4,,rep,T1,USD,2023-05-02
P5,Dev Patel,wizard,T1,USD,2023-05-02
"""


# ---- help ----
def test_every_command_has_help() -> None:
    top = run("--help")
    assert top.exit_code == 0
    for command in COMMANDS:
        assert command in top.output
        result = run(command, "--help")
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output and "--help" in result.output
    assert "--ignore-extra-columns" in run("import", "--help").output
    assert "--no-browser" in run("app", "--help").output and "--apps" in run("app", "--help").output


# ---- import ----
def test_import_good_csv_reports_what_it_did_and_is_idempotent(workspace: Path, tmp_path: Path) -> None:
    csv = write(tmp_path / "payees.csv", GOOD_PAYEES)
    first = run("import", "payees", str(csv), "--workspace", str(workspace))
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == "payees: 3 rows read from payees.csv: 3 inserted, 0 updated, 0 unchanged"
    again = run("import", "payees", str(csv), "-w", str(workspace))
    assert again.stdout.strip() == "payees: 3 rows read from payees.csv: 0 inserted, 0 updated, 3 unchanged"
    with spm_kernel.open(workspace, read_only=True) as ws:
        payees = ws.table("payees")
    assert list(payees["payee_id"]) == ["P1", "P2", "P3"]
    assert list(payees["name"]) == ["Ana Silva", "Ben Okafor", "Chloe Martin"]
    assert set(payees["source"]) == {"payees.csv"}


def test_import_uses_the_workspace_from_the_environment_and_the_source_option(
        workspace: Path, tmp_path: Path) -> None:
    csv = write(tmp_path / "export.csv", GOOD_PAYEES)
    result = run("import", "payees", str(csv), "--source", "workday",
                 env={"SPM_WORKSPACE": str(workspace)})
    assert result.exit_code == 0, result.output
    assert "3 rows read from workday: 3 inserted" in result.stdout
    with spm_kernel.open(workspace, read_only=True) as ws:
        assert set(ws.table("payees")["source"]) == {"workday"}


def test_import_bad_csv_lists_every_problem_and_writes_nothing(workspace: Path, tmp_path: Path) -> None:
    run("import", "payees", str(write(tmp_path / "first.csv", GOOD_PAYEES)), "-w", str(workspace))
    before = snapshot(workspace)
    bad = write(tmp_path / "payees_bad.csv", BAD_PAYEES)
    result = run("import", "payees", str(bad), "-w", str(workspace))
    assert result.exit_code == 1
    assert result.stdout == ""
    err = result.stderr
    assert "import into 'payees' from payees_bad.csv refused: 4 problem(s); nothing was written" in err
    lines = err.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("file"))
    assert lines[header].split() == ["file", "row", "column", "value", "reason"]
    rows = [line for line in lines[header + 2:] if line.startswith("payees_bad.csv")]
    assert len(rows) == 4
    located = {(r.split()[1], r.split()[2]) for r in rows}  # (row, column) of each problem
    assert located == {("3", "team_id"), ("4", "hire_date"), ("5", "name"), ("6", "role")}
    assert any("T9" in r for r in rows) and any("2023-02-30" in r for r in rows)
    assert "4 problem(s) in all" in err
    assert "Traceback" not in result.output
    assert_unchanged(before, snapshot(workspace))


def test_import_shows_the_first_50_problems_and_the_count(workspace: Path, tmp_path: Path) -> None:
    body = "".join(f"R{i},\n" for i in range(60))  # 60 regions without a name
    result = run("import", "regions", str(write(tmp_path / "regions.csv", "region_id,name\n" + body)),
                 "-w", str(workspace))
    assert result.exit_code == 1
    table_rows = [line for line in result.stderr.splitlines() if line.startswith("regions.csv")]
    assert len(table_rows) == 50
    assert table_rows[0].split()[:3] == ["regions.csv", "2", "name"]
    assert "refused: 60 problem(s)" in result.stderr
    assert "showing the first 50 of 60 problems" in result.stderr


def test_extra_columns_are_refused_unless_ignored(workspace: Path, tmp_path: Path) -> None:
    csv = write(tmp_path / "regions.csv", "region_id,name,notes\nAP,Asia Pacific,new in 2025\n")
    refused = run("import", "regions", str(csv), "-w", str(workspace))
    assert refused.exit_code == 1
    assert "notes" in refused.stderr
    accepted = run("import", "regions", str(csv), "-w", str(workspace), "--ignore-extra-columns")
    assert accepted.exit_code == 0, accepted.output
    assert "1 inserted" in accepted.stdout
    with spm_kernel.open(workspace, read_only=True) as ws:
        assert ws.count("regions") == 3


@pytest.mark.parametrize(("args", "message"), [
    (["import", "opportunity", "{csv}"],
     "error: unknown table 'opportunity' (did you mean 'opportunities'?); tables you can import:"),
    (["import", "calc_runs", "{csv}"],
     "error: table 'calc_runs' is written by the engine, not imported"),
    (["import", "regions", "{tmp}/missing.csv"], "error: {tmp}/missing.csv: no such file"),
    (["import", "regions", "{tmp}/regions.json"], "error: regions.json: no installed reader handles '.json'"),
])
def test_import_errors_are_one_clear_line(workspace: Path, tmp_path: Path, args: list[str],
                                          message: str) -> None:
    write(tmp_path / "regions.csv", "region_id,name\nAP,Asia Pacific\n")
    write(tmp_path / "regions.json", "[]")
    fill = {"csv": str(tmp_path / "regions.csv"), "tmp": str(tmp_path)}
    before = snapshot(workspace)
    result = run(*[a.format(**fill) for a in args], "-w", str(workspace))
    assert result.exit_code == 1
    assert result.stderr.startswith(message.format(**fill))
    assert len(result.stderr.strip().splitlines()) == 1
    assert_unchanged(before, snapshot(workspace))


def test_import_into_a_missing_workspace_is_refused_without_creating_it(tmp_path: Path) -> None:
    csv = write(tmp_path / "regions.csv", "region_id,name\nAP,Asia Pacific\n")
    result = run("import", "regions", str(csv), "-w", str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: no workspace at {tmp_path / 'nowhere'}")
    assert "spm init" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_init_creates_a_named_workspace(tmp_path: Path) -> None:
    result = run("init", str(tmp_path / "acme"), "--name", "Acme Robotics")
    assert result.exit_code == 0, result.output
    assert "workspace 'Acme Robotics' ready at" in result.stdout
    with spm_kernel.open(tmp_path / "acme", read_only=True) as ws:
        assert ws.config.name == "Acme Robotics"


# ---- plugins ----
def test_plugins_lists_builtins_with_distribution_version_hooks_status() -> None:
    result = run("plugins")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    readers = next(line for line in lines if line.startswith("spm_kernel.builtin.file_readers"))
    assert readers.split() == ["spm_kernel.builtin.file_readers", "spm-kernel", "(built-in)",
                               spm_kernel.__version__, "spm_read_table_file", "active"]
    commands = next(line for line in lines if line.startswith("spm_kernel.builtin.commands"))
    assert "spm_cli_commands" in commands and commands.endswith("active")
    assert lines[0].startswith("Plugins (")
    assert any(line.startswith("Extensions (") for line in lines)


def test_plugins_shows_a_broken_and_a_disabled_plugin_and_the_extensions(plugin_site: Path) -> None:
    install_fake_dist(plugin_site, "acme-broken", "acme_broken_mod",
                      "raise ImportError('acme needs libfoo 2')", ep_name="acme_broken", version="0.9.1")
    install_fake_dist(plugin_site, "acme-metrics", "acme_metrics", """
        import pandas as pd
        from spm_kernel import Metric, hookimpl

        class WinRate(Metric):
            name = "acme_win_rate"
            def compute(self, ws, **query):
                return pd.DataFrame({"metric": [self.name], "value": [0.5]})

        @hookimpl
        def spm_register_metrics():
            return [WinRate()]
    """, version="2.0.0")
    install_fake_dist(plugin_site, "acme-off", "acme_off", "", version="1.0.0")
    with pytest.warns(PluginLoadWarning, match="acme_broken"):  # building the CLI warns too
        result = run("plugins", env={"SPM_DISABLE_PLUGINS": "acme_off"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    broken = next(line for line in lines if line.startswith("acme_broken "))
    assert broken.split()[:4] == ["acme_broken", "acme-broken", "0.9.1", "-"]
    assert broken.endswith("failed: ImportError: acme needs libfoo 2")
    off = next(line for line in lines if line.startswith("acme_off "))
    assert off.split()[1] == "acme-off" and off.endswith("disabled")
    metrics = next(line for line in lines if line.startswith("acme_metrics "))
    assert metrics.split() == ["acme_metrics", "acme-metrics", "2.0.0", "spm_register_metrics", "active"]
    assert ["metric", "acme_win_rate", "acme_metrics"] in [line.split() for line in lines]
    assert "Traceback" not in result.output


def test_describe_formats_a_failed_entry_point_plugin() -> None:
    manager = make_plugin_manager(load_entry_points=False)
    ghost = EntryPoint(name="ghost", value="nonexistent_module_xyz:plugin", group="spm_kernel")
    with pytest.warns(PluginLoadWarning, match="ghost"):
        _load_entry_point(manager, ghost)
    text = format_plugins(manager.describe(), [])
    ghost_line = next(line for line in text.splitlines() if line.startswith("ghost"))
    assert ghost_line.split()[:2] == ["ghost", "unknown"]
    assert ghost_line.endswith("failed: ModuleNotFoundError: No module named 'nonexistent_module_xyz'")
    assert "(no data sources, plan types, metrics or forecasters registered)" in text
    # every line of the plugin table has its columns at the same offsets
    table = text.splitlines()[1:2 + len(manager.describe()) + 1]
    status_at = table[0].index("status")
    assert all(line[status_at - 2:status_at] == "  " for line in table[2:])


def test_text_table_aligns_columns() -> None:
    out = text_table(["name", "rows"], [["payees", 25], ["fx_rates", 1095]], right=["rows"])
    assert out.splitlines() == [
        "name      rows",
        "--------  ----",
        "payees      25",
        "fx_rates  1095",
    ]


def test_plugins_of_a_workspace_opens_it_read_only(workspace: Path) -> None:
    with spm_kernel.open(workspace, read_only=True):  # another reader: still fine
        result = run("plugins", "--workspace", str(workspace))
    assert result.exit_code == 0, result.output
    assert "spm_kernel.builtin.file_readers" in result.stdout
    missing = run("plugins", "--workspace", str(workspace.parent / "nowhere"))
    assert missing.exit_code == 1 and missing.stderr.startswith("error: no workspace at")


# ---- app (the server itself is tested in a browser: tests/test_app_overview.py) ----
def test_apps_are_found_in_the_checkout_or_the_installed_share_folder(tmp_path: Path) -> None:
    checkout = Path(__file__).resolve().parent.parent / "notebooks" / "apps"
    assert app_server.find_apps_dir() == checkout
    assert (checkout / "overview.ipynb").is_file()
    installed = tmp_path / "prefix" / "share" / "spm-kernel" / "notebooks" / "apps"
    installed.mkdir(parents=True)
    (installed / "overview.ipynb").write_text("{}")
    assert app_server.candidate_apps_dirs(tmp_path / "prefix")[1] == installed
    with pytest.raises(spm_kernel.SPMError, match="--apps"):
        app_server.find_apps_dir(tmp_path / "empty")


def test_voila_command_hides_tracebacks_culls_preheats_every_app_and_skips_unused_extensions(tmp_path: Path) -> None:
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "overview.ipynb").write_text(json.dumps({"metadata": {}, "cells": []}))
    (apps / "statement.ipynb").write_text(json.dumps({"metadata": {"spm": {"per_user": True}}, "cells": []}))
    cmd = app_server.voila_command(apps, 8999)
    assert cmd[:4] == [sys.executable, "-m", "voila", str(apps)]
    for flag in ("--port=8999", "--Voila.ip=127.0.0.1", "--Voila.port_retries=0", "--no-browser",
                 "--show_tracebacks=False", "--preheat_kernel=True", "--VoilaKernelManager.fill_delay=6",
                 "--MappingKernelManager.cull_idle_timeout=60", "--MappingKernelManager.cull_interval=30",
                 '--VoilaConfiguration.extension_denylist=["jupyterlab-plotly"]'):
        assert flag in cmd
    # per-user apps are preheated too: without sign-in there is one user (the server's
    # SPM_USER); behind sign-in the notebook waits for the request (tests/test_app_login.py)
    assert not any(a.startswith("--VoilaKernelManager.preheat_denylist") for a in cmd)


def test_app_refuses_a_busy_port_and_a_missing_workspace(workspace: Path, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("app", "--workspace", str(workspace), "--port", str(port), "--no-browser")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: port {port} on 127.0.0.1 is in use; choose another with --port"
    missing = run("app", "--workspace", str(tmp_path / "nowhere"), "--no-browser")
    assert missing.exit_code == 1 and missing.stderr.startswith("error: no workspace at")
    no_apps = run("app", "--workspace", str(workspace), "--apps", str(tmp_path), "--no-browser")
    assert no_apps.exit_code == 1 and "no folder with .ipynb notebooks there" in no_apps.stderr


# ---- the installed console script, as a user runs it ----
def test_console_script_import_and_plugins(workspace: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake_dist(site, "acme-broken", "acme_broken_mod", "import nonexistent_module_xyz",
                      ep_name="acme_broken")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    env.pop("SPM_DEBUG", None)
    before = snapshot(workspace)
    bad = write(tmp_path / "payees_bad.csv", BAD_PAYEES)
    proc = subprocess.run([str(SPM), "import", "payees", str(bad), "--workspace", str(workspace)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "payees_bad.csv refused: 4 problem(s); nothing was written" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert_unchanged(before, snapshot(workspace))

    good = write(tmp_path / "payees.csv", GOOD_PAYEES)
    proc = subprocess.run([str(SPM), "import", "payees", str(good), "--workspace", str(workspace)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "payees: 3 rows read from payees.csv: 3 inserted, 0 updated, 0 unchanged"

    proc = subprocess.run([str(SPM), "plugins"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "failed: ModuleNotFoundError: No module named 'nonexistent_module_xyz'" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_an_installed_wheel_finds_its_app_notebooks(tmp_path: Path) -> None:
    """Build the wheel from a copy of the sources, install it into a fresh virtualenv, and find
    the apps under that environment's prefix (no source checkout next to the package)."""
    repo = Path(__file__).resolve().parent.parent
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    for name in ("spm_kernel", "widgets", "notebooks"):
        shutil.copytree(repo / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        if (repo / name).exists():
            shutil.copy(repo / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", str(src), "--no-deps", "-q", "-w", str(tmp_path / "dist")],
                   check=True, capture_output=True, timeout=600)
    wheel = next((tmp_path / "dist").glob("spm_kernel-*.whl"))
    # A separate environment: installing there can never touch this one.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", str(wheel), "--no-deps", "-q"],
                   check=True, capture_output=True, timeout=600)
    probe = ("import spm_kernel, sys; from spm_kernel.app_server import find_apps_dir; "
             "print(spm_kernel.__file__); print(sys.prefix); print(find_apps_dir())")
    deps = next(Path(sys.prefix).glob("lib/python*/site-packages"))  # pandas etc., no .pth finders
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(deps)}).stdout.splitlines()
    assert Path(out[0]).is_relative_to(venv)  # the installed copy, not the checkout
    apps = Path(out[1]) / "share" / "spm-kernel" / "notebooks" / "apps"
    assert Path(out[2]) == apps
    assert (apps / "overview.ipynb").read_text() == (repo / "notebooks/apps/overview.ipynb").read_text()


def test_a_workspace_locked_by_another_process_is_one_clear_line(workspace: Path, tmp_path: Path) -> None:
    holder = subprocess.Popen(  # a writer in another process holds DuckDB's lock
        [sys.executable, "-c", "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); "
         "sys.stdin.read()", str(workspace / "workspace.duckdb")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        csv = write(tmp_path / "regions.csv", "region_id,name\nAP,Asia Pacific\n")
        result = run("import", "regions", str(csv), "-w", str(workspace))
        assert result.exit_code == 1
        assert result.stderr.startswith(f"error: cannot open workspace {workspace}:")
        assert "open for writing in another process" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert run("init", str(workspace)).stderr.startswith("error: cannot open workspace")
    finally:
        holder.communicate("", timeout=30)
