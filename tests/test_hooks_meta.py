"""Meta-tests: every hook is documented (docstring and docs/hooks.md, with its signature)
and exercised by at least one test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from spm_kernel import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = hookspecs.all_hookspec_names()


def _test_sources() -> str:
    files = list((ROOT / "tests").rglob("test_*.py")) + list((ROOT / "plugins").glob("*/tests/**/test_*.py"))
    return "\n".join(f.read_text("utf-8") for f in files if f.name != Path(__file__).name)


def test_there_are_hooks_for_every_extension_kind() -> None:
    for required in ("spm_register_data_sources", "spm_register_plan_types", "spm_register_metrics",
                     "spm_register_forecasters"):
        assert required in HOOKS


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_contract_in_its_docstring(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert len(doc) > 80, f"{name} needs a docstring stating its contract"
    spec_opts = getattr(getattr(hookspecs, name), f"{hookspecs.PROJECT_NAME}_spec")
    kind = "first result" if spec_opts.get("firstresult") else "collected"
    assert kind in doc.lower().replace("first-result", "first result"), f"{name}: say whether it is {kind}"
    assert "called" in doc.lower(), f"{name}: say when it is called"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_in_docs_with_its_signature(name: str) -> None:
    docs = (ROOT / "docs" / "hooks.md").read_text("utf-8")
    assert f"## `{name}`" in docs, f"docs/hooks.md has no section for {name}"
    section = docs.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
    params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    assert re.search(rf"def {name}\({re.escape(params)}", re.sub(r": [^,)]+", "", section)), (
        f"docs/hooks.md section for {name} must show `def {name}({params})`")


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_exercised_by_a_test(name: str) -> None:
    assert re.search(rf"\b{name}\b", _test_sources()), f"no test implements or calls {name}"
