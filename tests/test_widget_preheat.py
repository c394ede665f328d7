"""Apps in pre-heated kernels (spm_widgets.components.app_on_request): built before anybody
asks, shown at once, and built again for the page when the workspace changed in between. The
page request is Voila's ``wait_for_request``; here a stand-in that does what happens meanwhile
(nothing, or another app writing to the workspace). The browser side is in
tests/test_app_disputes.py (the queue opened after the statement app raised an inquiry)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import ipywidgets as widgets
import pytest
import voila.utils

from spm_kernel.auth import app_user
from spm_kernel.workspace import Workspace
from spm_widgets.components import app_on_request, build_app, workspace_fingerprint
from tests.widget_checks import write_from_another_connection


@pytest.fixture
def preheated(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], None]], list[int]]]:
    """Pretend to be a pre-heated Voila kernel; ``arrange(meanwhile)`` makes the page request
    run ``meanwhile`` first and returns the list counting the requests."""
    monkeypatch.setenv("VOILA_PREHEAT", "True")
    monkeypatch.setattr(app_user, "_request_received", False)
    shown: list[widgets.Widget] = []
    monkeypatch.setattr("IPython.display.display", lambda w: shown.append(w))
    requests: list[int] = []

    def arrange(meanwhile: Callable[[], None]) -> list[int]:
        def request() -> None:
            requests.append(1)
            meanwhile()

        monkeypatch.setattr(voila.utils, "wait_for_request", request)
        return requests

    yield arrange


def _builder(counter: list[int]) -> Callable[[], widgets.Widget]:
    def build() -> widgets.Widget:
        counter.append(1)
        return widgets.HTML(f"build {len(counter)}")

    return build


def test_an_unchanged_workspace_is_built_once_and_waits_for_the_request(
        spm_workspace: Workspace, preheated: Callable[..., list[int]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPM_WORKSPACE", str(spm_workspace.path))
    spm_workspace.close()
    requests = preheated(lambda: None)
    builds: list[int] = []
    assert app_on_request(_builder(builds)) is None  # already shown, in its box
    assert requests == [1] and builds == [1]
    # later apps of the same notebook run after the request: built straight away, no waiting
    assert isinstance(build_app(_builder(builds)), widgets.HTML) and requests == [1] and builds == [1, 1]


def test_a_workspace_written_before_the_request_is_built_again(
        spm_workspace: Workspace, preheated: Callable[..., list[int]], monkeypatch: pytest.MonkeyPatch) -> None:
    folder = spm_workspace.path
    monkeypatch.setenv("SPM_WORKSPACE", str(folder))
    spm_workspace.close()

    def another_app_writes() -> None:
        write_from_another_connection(folder, "CREATE TABLE another_apps_note AS SELECT 1 AS x")

    before = workspace_fingerprint(folder)
    shown: list[widgets.Widget] = []
    monkeypatch.setattr("IPython.display.display", lambda w: shown.append(w))
    requests = preheated(another_app_writes)
    builds: list[int] = []
    assert app_on_request(_builder(builds)) is None
    assert requests == [1] and builds == [1, 1]
    (box,) = shown
    assert [c.value for c in box.children] == ["build 2"]  # the page gets the fresh build
    assert workspace_fingerprint(folder) != before


def test_outside_a_preheated_kernel_an_app_is_just_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    builds: list[int] = []
    assert app_on_request(_builder(builds)).value == "build 1"  # type: ignore[union-attr]
    failed = build_app(lambda: 1 / 0, "sums")  # type: ignore[arg-type, return-value]
    assert failed is not None and "spm-error-panel" in failed._dom_classes
