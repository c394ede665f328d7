"""spm_widgets.charts.Chart, headless: a small loader instead of plotly's 4.9 MB bundle in each
figure's state, one bundle holder per kernel, and a full state that follows every update (the
state a page connecting later draws from). The browser side is checked in the app tests
(tests/test_app_*.py count the drawn bars and lines)."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from spm_widgets.charts import BUNDLE_PATH, LOADER_ESM, Chart, PlotlyBundle, plotly_bundle


def test_a_chart_carries_a_loader_and_shares_one_bundle() -> None:
    a, b = Chart(go.Figure(go.Bar(x=["a"], y=[1]))), Chart()
    assert a._esm == LOADER_ESM and len(a._esm) < 4000  # not the bundle itself
    assert BUNDLE_PATH.stat().st_size > 1_000_000
    assert a._spm_bundle is b._spm_bundle is plotly_bundle()
    assert isinstance(a._spm_bundle, PlotlyBundle) and a._spm_bundle.source == BUNDLE_PATH.read_bytes()
    state = a.get_state()
    assert state["_spm_bundle"] == f"IPY_MODEL_{plotly_bundle().model_id}"
    assert "source" not in state  # the bytes travel once, from the holder
    assert "spm-chart" in a._dom_classes


def test_the_bundle_travels_when_a_page_asks_not_in_the_state() -> None:
    holder = plotly_bundle()
    assert "source" not in holder.get_state() and len(holder.get_state()["version"]) > 0
    sent: list[tuple[Any, Any]] = []
    holder.send = lambda content, buffers=None: sent.append((content, buffers))  # type: ignore[method-assign]
    try:
        holder._handle_custom_msg({"spm_bundle": "something else"}, [])
        assert sent == []
        holder._handle_custom_msg({"spm_bundle": "send"}, [])  # what the loader sends
        ((content, buffers),) = sent
        assert content == {"spm_bundle": holder.version}
        assert buffers == [BUNDLE_PATH.read_bytes()]
    finally:
        del holder.send


def test_the_full_state_follows_updates_in_place() -> None:
    chart = Chart(go.Figure(go.Bar(x=["<50%", "50-100%", ">=100%"], y=[0, 0, 0])), css_class="spm-test-chart")
    assert "spm-test-chart" in chart._dom_classes
    with chart.batch_update():
        chart.data[0].y = [3, 5, 2]
        chart.layout.title.text = "Reps"
    state = chart.get_state()
    assert list(state["_widget_data"][0]["y"]) == [3, 5, 2]
    assert state["_widget_layout"]["title"]["text"] == "Reps"
    chart.data[0].y = [1, 1, 1]  # outside a batch: a restyle
    assert list(chart.get_state()["_widget_data"][0]["y"]) == [1, 1, 1]
    chart.add_scatter(x=[1, 2], y=[4, 5], name="line")
    assert [t.get("name") for t in chart.get_state()["_widget_data"]][1] == "line"
    chart.data = [chart.data[1]]  # traces deleted
    assert len(chart.get_state()["_widget_data"]) == 1


def test_a_plain_figure_widget_keeps_its_first_state_inside_a_box() -> None:
    """Why Chart exists: plotly's own FigureWidget sends updates as messages only, so its state
    (what a page that connects after the notebook ran receives) keeps the construction data."""
    plain = go.FigureWidget(go.Figure(go.Bar(x=["a"], y=[0])))
    with plain.batch_update():
        plain.data[0].y = [7]
    assert list(plain.get_state()["_widget_data"][0]["y"]) == [0]
    assert len(plain._esm) > 1_000_000
