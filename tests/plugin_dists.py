"""Build real (tiny) installed distributions with ``spm_kernel`` entry points on sys.path, so
tests exercise entry-point discovery exactly as pip-installed plugins are found."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


def install_fake_dist(site: Path, dist: str, module: str, source: str, ep_name: str | None = None,
                      version: str = "1.2.3") -> None:
    """Write ``module.py`` and a ``dist-info`` whose entry point names it, into ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[spm_kernel]\n{ep_name or module} = {module}\n")


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path where tests install fake plugin distributions."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site
