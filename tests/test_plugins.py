"""The plugin kernel: built-ins, entry points, the disable list, and every failure mode."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import spm_kernel
from spm_kernel import DataSource, Forecaster, Metric, PlanType, PluginError, hookimpl
from spm_kernel.cli import build_app
from spm_kernel.errors import FileReadError
from spm_kernel.plugins import DEFAULT_PLUGINS, PluginLoadWarning
from tests.plugin_dists import install_fake_dist


def _open(tmp_path: Path, **kw):  # noqa: ANN003, ANN202
    return spm_kernel.open(tmp_path / "ws", **kw)


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "regions.csv"
    path.write_text("region_id,name\nNA,North America\n")
    return path


def test_builtins_are_registered_as_plugins(tmp_path: Path) -> None:
    with _open(tmp_path) as ws:
        rows = {r["name"]: r for r in ws.plugins.describe()}
        for name in DEFAULT_PLUGINS:
            assert rows[name]["status"] == "active"
            assert rows[name]["distribution"] == "spm-kernel (built-in)"
        assert "spm_read_table_file" in rows["spm_kernel.builtin.file_readers"]["hooks"]


def test_each_workspace_has_its_own_plugin_manager(tmp_path: Path) -> None:
    class Extra:
        @hookimpl
        def spm_read_table_file(self, path: Path) -> pd.DataFrame | None:
            return None

    a = spm_kernel.open(tmp_path / "a", plugins=[Extra()])
    b = spm_kernel.open(tmp_path / "b")
    try:
        assert a.plugins.pm is not b.plugins.pm
        assert "Extra" in a.plugins.plugin_names() and "Extra" not in b.plugins.plugin_names()
    finally:
        a.close()
        b.close()


def test_entry_point_plugin_is_discovered_with_its_distribution(tmp_path: Path, plugin_site: Path) -> None:
    install_fake_dist(plugin_site, "acme-spm-readers", "acme_readers", """
        import pandas as pd
        from spm_kernel import hookimpl

        @hookimpl
        def spm_read_table_file(path):
            if path.suffix == ".acme":
                return pd.DataFrame({"region_id": ["AC"], "name": ["Acme land"]}, dtype=object)
    """)
    with _open(tmp_path) as ws:
        row = {r["name"]: r for r in ws.plugins.describe()}["acme_readers"]
        assert (row["distribution"], row["version"], row["hooks"]) == (
            "acme-spm-readers", "1.2.3", ["spm_read_table_file"])
        (tmp_path / "x.acme").write_text("anything")
        ws.load("regions", tmp_path / "x.acme")
        assert ws.table("regions")["name"].tolist() == ["Acme land"]


def test_third_party_first_result_overrides_the_trylast_builtin(tmp_path: Path) -> None:
    class UpperCaseCsv:
        @hookimpl
        def spm_read_table_file(self, path: Path) -> pd.DataFrame | None:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            return frame.apply(lambda col: col.str.upper()).astype(object)

    with _open(tmp_path, plugins=[UpperCaseCsv()]) as ws:
        ws.load("regions", _csv(tmp_path))
        assert ws.table("regions")["name"].tolist() == ["NORTH AMERICA"]


def test_disable_env_blocks_plugins_by_name(tmp_path: Path, plugin_site: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_dist(plugin_site, "acme-noop", "acme_noop", "x = 1\n")
    monkeypatch.setenv("SPM_DISABLE_PLUGINS", "acme_noop, spm_kernel.builtin.file_readers")
    with _open(tmp_path) as ws:
        status = {r["name"]: r["status"] for r in ws.plugins.describe()}
        assert status["acme_noop"] == "disabled"
        assert status["spm_kernel.builtin.file_readers"] == "disabled"
        with pytest.raises(FileReadError, match="no installed reader"):
            ws.load("regions", _csv(tmp_path))


def test_misspelt_hook_in_code_fails_loudly_with_a_suggestion(tmp_path: Path) -> None:
    class Typo:
        @hookimpl
        def spm_register_metric(self) -> list[Metric]:  # missing "s"
            return []

    with pytest.raises(PluginError, match="unknown hook 'spm_register_metric'; did you mean 'spm_register_metrics'"):
        _open(tmp_path, plugins=[Typo()])


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("acme_import_error", "raise ImportError('needs libfoo')\n", "ImportError: needs libfoo"),
    ("acme_typo", "from spm_kernel import hookimpl\n@hookimpl\ndef spm_workspace_openned(ws):\n    pass\n",
     "unknown hook 'spm_workspace_openned'; did you mean 'spm_workspace_opened'"),
    ("acme_bad_args",
     "from spm_kernel import hookimpl\n@hookimpl\ndef spm_after_load(ws, table, result, extra):\n    pass\n",
     "hook 'spm_after_load'"),
])
def test_broken_entry_point_plugin_warns_and_everything_else_works(
        tmp_path: Path, plugin_site: Path, module: str, source: str, expected: str) -> None:
    install_fake_dist(plugin_site, "acme-broken", module, source, ep_name="acme_broken")
    with pytest.warns(PluginLoadWarning, match="'acme_broken'.*acme-broken") as record:
        ws = _open(tmp_path)
    try:
        assert expected in str(record[0].message)
        row = {r["name"]: r for r in ws.plugins.describe()}["acme_broken"]
        assert row["status"].startswith("failed") and expected in row["status"]
        assert "acme_broken" not in ws.plugins.plugin_names()
        ws.load("regions", _csv(tmp_path))  # the rest of the workbench still works
        assert ws.count("regions") == 1
    finally:
        ws.close()


class _Source(DataSource):
    name = "acme_crm"
    tables = ("opportunities",)

    def check(self):  # noqa: ANN201
        return "ok"

    def fetch(self, context):  # noqa: ANN001, ANN201
        return iter(())


class _PlanType(PlanType):
    name = "acme_flat_fee"

    def calculate(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return pd.DataFrame()


class _Metric(Metric):
    name = "acme_metric"
    label = "Acme metric"

    def compute(self, ctx):  # noqa: ANN001, ANN201
        return pd.DataFrame({"metric": [self.name], "value": [1]})


class _Forecaster(Forecaster):
    name = "acme_forecaster"

    def history(self, ws, as_of=None):  # noqa: ANN001, ANN201
        return pd.DataFrame()

    def fit(self, history, **options):  # noqa: ANN001, ANN003, ANN201
        return None

    def payee_samples(self, ws, start, end, samples=1000, **options):  # noqa: ANN001, ANN003, ANN201
        return pd.DataFrame()

    def predict(self, model, horizon, **options):  # noqa: ANN001, ANN003, ANN201
        return pd.DataFrame()


class _Registers:
    @hookimpl
    def spm_register_data_sources(self) -> list[DataSource]:
        return [_Source()]

    @hookimpl
    def spm_register_plan_types(self) -> list[PlanType]:
        return [_PlanType()]

    @hookimpl
    def spm_register_metrics(self) -> list[Metric]:
        return [_Metric()]

    @hookimpl
    def spm_register_forecasters(self) -> list[Forecaster]:
        return [_Forecaster()]


def test_register_hooks_fill_the_registry_with_providers(tmp_path: Path) -> None:
    with _open(tmp_path, plugins=[_Registers()]) as ws:
        reg = ws.registry
        assert isinstance(reg.data_sources["acme_crm"], _Source)
        assert isinstance(reg.plan_types["acme_flat_fee"], _PlanType)
        assert isinstance(reg.metrics["acme_metric"], _Metric)
        assert isinstance(reg.forecasters["acme_forecaster"], _Forecaster)
        assert reg.metrics.provider("acme_metric") == "_Registers"
        with pytest.raises(KeyError, match="unknown metric 'nope'; available: .*acme_metric"):
            reg.metrics["nope"]


def test_first_registration_of_a_name_wins_and_trylast_goes_last(tmp_path: Path) -> None:
    class Mine(_Metric):
        label = "mine"

    class Fallback:
        @hookimpl(trylast=True)
        def spm_register_metrics(self) -> list[Metric]:
            return [_Metric()]

    class Override:
        @hookimpl
        def spm_register_metrics(self) -> list[Metric]:
            return [Mine()]

    with _open(tmp_path, plugins=[Override(), Fallback()]) as ws:
        assert ws.registry.metrics["acme_metric"].label == "mine"
        assert ws.registry.metrics.provider("acme_metric") == "Override"


def test_a_register_hook_that_raises_is_reported_and_the_others_still_register(tmp_path: Path) -> None:
    class Broken:
        @hookimpl
        def spm_register_metrics(self) -> list[Metric]:
            raise RuntimeError("database of benchmarks unreachable")

    class NotAList:
        @hookimpl
        def spm_register_plan_types(self) -> list[PlanType]:
            return _PlanType()  # type: ignore[return-value]

    class WrongKind:
        @hookimpl
        def spm_register_forecasters(self) -> list[Forecaster]:
            return ["not a forecaster"]  # type: ignore[list-item]

    with _open(tmp_path, plugins=[_Registers(), Broken(), NotAList(), WrongKind()]) as ws:
        with pytest.warns(PluginLoadWarning, match="'Broken' failed in spm_register_metrics.*unreachable"):
            assert "acme_metric" in ws.registry.metrics
        with pytest.warns(PluginLoadWarning, match="'NotAList'.*must return a list"):
            assert "acme_flat_fee" in ws.registry.plan_types
        with pytest.warns(PluginLoadWarning, match="'WrongKind' registered 'not a forecaster'"):
            names = ws.registry.forecasters.names()
            assert "acme_forecaster" in names and "not a forecaster" not in names
        statuses = [r["status"] for r in ws.plugins.describe() if r["name"] in ("Broken", "NotAList")]
        assert len(statuses) == 2 and all(s.startswith("error: spm_register_") for s in statuses)


def test_workspace_opened_hook_sees_the_workspace_and_can_refuse(tmp_path: Path) -> None:
    seen = []

    class Watcher:
        @hookimpl
        def spm_workspace_opened(self, ws: spm_kernel.Workspace) -> None:
            seen.append((ws.path.name, ws.schema_version))

    with _open(tmp_path, plugins=[Watcher()]) as ws:
        assert seen == [("ws", ws.schema_version)]

    class Refuser:
        @hookimpl
        def spm_workspace_opened(self, ws: spm_kernel.Workspace) -> None:
            raise RuntimeError("licence expired")

    with pytest.raises(RuntimeError, match="licence expired"):
        _open(tmp_path, plugins=[Refuser()])
    with _open(tmp_path) as ws:  # the database was closed and is not locked
        assert ws.count("regions") == 0


def test_after_load_hook_runs_after_commit_and_not_after_a_refused_import(tmp_path: Path) -> None:
    calls = []

    class Listener:
        @hookimpl
        def spm_after_load(self, ws: spm_kernel.Workspace, table: str, result: spm_kernel.LoadResult) -> None:
            calls.append((table, result.inserted, ws.count(table)))

    with _open(tmp_path, plugins=[Listener()]) as ws:
        ws.load("regions", _csv(tmp_path))
        bad = tmp_path / "bad.csv"
        bad.write_text("region_id,name\nEU,\n")
        with pytest.raises(spm_kernel.ImportValidationError):
            ws.load("regions", bad)
    assert calls == [("regions", 1, 1)]


def test_cli_commands_hook_adds_plugin_commands(plugin_site: Path) -> None:
    install_fake_dist(plugin_site, "acme-cli", "acme_cli", """
        from spm_kernel import hookimpl

        @hookimpl
        def spm_cli_commands(app):
            @app.command()
            def hello(name: str) -> None:
                "Say hello."
                print(f"hello {name} from acme")
    """)
    result = CliRunner().invoke(build_app(), ["hello", "rep"])
    assert result.exit_code == 0, result.output
    assert "hello rep from acme" in result.output
    assert "init" in CliRunner().invoke(build_app(), ["--help"]).output


def test_no_warnings_from_a_clean_install(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginLoadWarning)
        with _open(tmp_path) as ws:
            ws.registry.metrics  # noqa: B018 - collecting must not warn
