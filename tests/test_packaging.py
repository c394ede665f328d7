"""Packaging: the conda environment and the pyproject files name the same dependencies; every
plugin is its own distribution with an entry point, tests and a README; the README leads with
the two commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIRS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject(path: Path) -> dict:
    return tomllib.loads(path.read_text("utf-8"))


def _pyproject_dependencies() -> set[str]:
    names: set[str] = set()
    local = {"spm-kernel"} | {_pyproject(d / "pyproject.toml")["project"]["name"] for d in PLUGIN_DIRS}
    for path in [ROOT / "pyproject.toml"] + [d / "pyproject.toml" for d in PLUGIN_DIRS]:
        project = _pyproject(path)["project"]
        reqs = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            reqs += extra
        names |= {_name(r) for r in reqs}
    return names - local


def _environment() -> tuple[set[str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text("utf-8"))
    conda, pip = set(), []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep["pip"]
        else:
            conda.add(_name(dep))
    pip_names = {_name(p) for p in pip if not p.startswith(("-e", "./", "."))}
    return (conda | pip_names) - {"python", "pip"}, pip


def test_environment_yml_names_the_same_dependencies_as_the_pyproject_files() -> None:
    env_names, _ = _environment()
    declared = _pyproject_dependencies()
    assert sorted(declared - env_names) == [], "in pyproject files but not in environment.yml"
    assert sorted(env_names - declared) == [], "in environment.yml but not in any pyproject file"


def test_environment_yml_installs_the_kernel_and_every_plugin() -> None:
    _, pip = _environment()
    assert "-e ." in pip
    for plugin in PLUGIN_DIRS:
        assert f"./plugins/{plugin.name}" in pip, f"environment.yml does not install {plugin.name}"


def test_every_plugin_is_a_distribution_with_an_entry_point_tests_and_a_readme() -> None:
    assert PLUGIN_DIRS, "no plugins under plugins/"
    for plugin in PLUGIN_DIRS:
        project = _pyproject(plugin / "pyproject.toml")["project"]
        assert project["entry-points"]["spm_kernel"], f"{plugin.name} has no spm_kernel entry point"
        assert "spm-kernel" in {_name(d) for d in project["dependencies"]}
        assert list((plugin / "tests").glob("test_*.py")), f"{plugin.name} has no tests"
        assert (plugin / "README.md").exists(), f"{plugin.name} has no README.md"


def test_root_package_provides_the_kernel_the_widgets_and_the_spm_command() -> None:
    project = _pyproject(ROOT / "pyproject.toml")
    assert project["project"]["scripts"]["spm"] == "spm_kernel.cli:main"
    assert set(project["tool"]["setuptools"]["packages"]["find"]["include"]) >= {"spm_kernel*", "spm_widgets*"}
    assert (ROOT / "widgets" / "spm_widgets" / "__init__.py").exists()


def test_readme_leads_with_make_app_and_make_test() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    first_block = readme.split("```", 2)[1]
    assert re.findall(r"^make (app|test)\b", first_block, flags=re.M) == ["app", "test"]
    assert (ROOT / ".ci" / "run").read_text("utf-8").rstrip().endswith("make test")
