"""Checks shared by the widget tests."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from ipywidgets.widgets.widget import _remove_buffers
from jupyter_client.session import json_packer


def assert_sendable(root: widgets.Widget) -> int:
    """Every widget under ``root`` has a state the kernel can send to the browser (what
    ``Widget.send_state`` packs). A ``Decimal`` in a chart's data, for example, cannot be
    packed: the browser then gets no traces and draws empty axes. Returns the widgets checked."""
    seen: set[int] = set()
    stack: list[Any] = [root]
    while stack:
        widget = stack.pop()
        if id(widget) in seen or not isinstance(widget, widgets.Widget):
            continue
        seen.add(id(widget))
        state, _, _ = _remove_buffers(widget.get_state())
        try:
            json_packer(state)
        except (TypeError, ValueError) as exc:
            raise AssertionError(f"{type(widget).__name__} cannot be sent to the browser: {exc}") from None
        stack.extend(getattr(widget, "children", ()) or ())
    return len(seen)


def count_workspace_opens(monkeypatch: Any) -> list[str]:
    """From now on, every workspace a widget opens (``spm_widgets.components``) is listed in
    the returned list."""
    from spm_widgets import components

    opened: list[str] = []
    real_open = components._open_retrying

    def counting_open(path: str, *args: Any) -> Any:
        opened.append(path)
        return real_open(path, *args)

    monkeypatch.setattr(components, "_open_retrying", counting_open)
    return opened


def write_from_another_connection(folder: Any, sql: str, params: list[Any] | None = None) -> None:
    """Run one write on the workspace database in ``folder`` as another program would."""
    import duckdb

    from spm_kernel.workspace import DATABASE_FILE

    con = duckdb.connect(str(folder / DATABASE_FILE))
    try:
        con.execute(sql, params or [])
    finally:
        con.close()
