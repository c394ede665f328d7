"""Plotly charts that come up drawn, also on a busy machine: :class:`Chart`, a plotly
``FigureWidget`` whose browser side starts at once and fetches plotly's bundle once per page.

Why (plotly 7.1 ``FigureWidget`` on anywidget 0.11):

* Every ``go.FigureWidget`` carries plotly's whole widget bundle (``_esm``, 4.9 MB) in its
  own state, and anywidget imports it once *per figure* (a new ``blob:`` module each time).
* anywidget gives a model **2 seconds** from its creation to import its ``_esm`` and run its
  ``initialize``; after that the model's ``ready`` promise is rejected for good ("[anywidget]
  Failed to initialize model.") and every later message from Python to that figure is dropped.
  Parsing 4.9 MB twice or three times on a loaded 2-core machine takes longer than that, so a
  figure updated after the page loaded kept its first drawing (often empty axes).
* ``FigureWidget`` sends its traces in its state (``_widget_data``) only at construction or
  when it is displayed *itself*; a figure inside a ``VBox`` that is updated before the page
  connects (every Voila app: the notebook runs before the browser asks for the widgets)
  reaches the page with its construction-time data.

What :class:`Chart` does instead:

* its ``_esm`` is a loader of about 2.5 KB (:data:`LOADER_ESM`): it is imported and
  ``initialize`` returns within milliseconds, so anywidget's window is never missed; the loader
  then imports plotly's bundle, **once per page** (a module promise shared by every chart on the
  page, keyed by plotly's version), from one :class:`PlotlyBundle` widget per kernel (the
  bundle's bytes cross the websocket once, as a binary buffer, not once per figure, and only
  when the page's first chart asks for them: they are not in the widget states a page loads
  before it draws anything, so numbers and tables show without waiting for 4.9 MB), and runs
  plotly's own ``initialize`` and ``render`` with the same model, once the chart's box is laid
  out (so the figure takes the box's width) and again at the box's new width when it changes;
* after every change sent to the browser (restyle, relayout, update, traces added, moved or
  deleted), the figure's full state (``_widget_data``, ``_widget_layout``) is brought up to
  date too, so a page that connects later, or a view drawn after the bundle arrived, draws the
  figure as it is now, not as it was built.

Update a chart in place (``with chart.batch_update(): chart.data[0].y = ...``): no widget is
created per change, nothing large is sent.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path
from typing import Any

import anywidget
import plotly
import plotly.graph_objects as go
import traitlets
from ipywidgets import widget_serialization

BUNDLE_PATH = Path(plotly.__file__).parent / "package_data" / "widgetbundle.js"

LOADER_ESM = """
// spm_widgets.charts: plotly's widget bundle, imported once per page and shared by every chart
const CACHE = (globalThis.__spmPlotlyBundles ??= new Map());

async function holderModel(model) {
  const id = String(model.get("_spm_bundle") || "").replace(/^IPY_MODEL_/, "");
  for (let attempt = 0; ; attempt++) {  // the holder's model may be created just after this one
    try {
      const holder = await model.widget_manager.get_model(id);
      if (holder) return holder;
    } catch (error) {
      if (attempt >= 600) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// the bundle's bytes are not in the holder's state (the page's first widget states would wait
// for 4.9 MB): the first chart of the page asks the kernel for them in a custom message
function bundleSource(holder) {
  return new Promise((resolve) => {
    const onMessage = (content, buffers) => {
      if (!content || !content.spm_bundle || !buffers || !buffers.length) return;
      holder.off("msg:custom", onMessage);
      resolve(buffers[0]);
    };
    holder.on("msg:custom", onMessage);
    holder.send({ spm_bundle: "send" });
  });
}

function plotlyWidget(model) {
  const key = String(model.get("_spm_plotly_version"));
  if (!CACHE.has(key)) {
    CACHE.set(key, (async () => {
      const holder = await holderModel(model);
      const source = await bundleSource(holder);
      const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
      try {
        return (await import(url)).default;
      } finally {
        URL.revokeObjectURL(url);
      }
    })());
  }
  return CACHE.get(key);
}

export default () => {
  let ready = null;  // plotly's own widget for this model, initialized
  return {
    initialize(context) {
      // not awaited: anywidget's start-up window closes 2 s after the model is created
      ready = plotlyWidget(context.model).then(async (factory) => {
        const widget = typeof factory === "function" ? await factory() : factory;
        await widget.initialize?.(context);
        return widget;
      });
      ready.catch((error) => console.error("[spm charts] plotly could not be loaded", error));
    },
    async render(context) {
      const widget = await ready;
      const el = context.el;
      // draw once the chart's box is laid out, so plotly sizes the figure to it (not 700 px)
      for (let i = 0; i < 300 && !(el.isConnected && el.clientWidth > 0); i++) {
        await new Promise((resolve) => requestAnimationFrame(resolve));
      }
      const cleanup = widget.render(context);
      el.classList.add("spm-chart-ready");
      // follow the box's width later on (plotly's responsive mode listens to window resizes)
      let width = el.clientWidth;
      const observer = new ResizeObserver(() => {
        if (el.clientWidth > 0 && el.clientWidth !== width) {
          width = el.clientWidth;
          window.dispatchEvent(new Event("resize"));
        }
      });
      observer.observe(el);
      return () => { observer.disconnect(); if (typeof cleanup === "function") cleanup(); };
    },
  };
};
"""


class PlotlyBundle(anywidget.AnyWidget):
    """Holds plotly's widget bundle (``source``, bytes) for the charts of one kernel; it has no
    view of its own. Use :func:`plotly_bundle`. The bytes are not part of its synced state (a
    page receives every widget's state before it draws anything): a page's first chart asks
    for them with the custom message ``{"spm_bundle": "send"}`` and gets them back as the one
    buffer of ``{"spm_bundle": <version>}``."""

    _esm = "export default { render() {} };"
    source = traitlets.Bytes()
    version = traitlets.Unicode().tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_msg(self._on_message)

    def _on_message(self, widget: Any, content: Any, buffers: list[bytes]) -> None:
        if isinstance(content, dict) and content.get("spm_bundle") == "send":
            self.send({"spm_bundle": self.version}, buffers=[self.source])


_BUNDLE: PlotlyBundle | None = None


def plotly_bundle() -> PlotlyBundle:
    """The kernel's one :class:`PlotlyBundle` (created with the first chart)."""
    global _BUNDLE
    if _BUNDLE is None:
        _BUNDLE = PlotlyBundle(source=BUNDLE_PATH.read_bytes(), version=plotly.__version__)
    return _BUNDLE


class Chart(go.FigureWidget):  # type: ignore[misc]
    """A plotly ``FigureWidget`` that starts quickly in the browser and whose full state
    always equals the figure (see the module's docstring). Build it like a ``FigureWidget``
    (``Chart(go.Figure(...))``, ``Chart(data=..., layout=...)``) and update it in place."""

    _esm = LOADER_ESM
    _spm_bundle = traitlets.Instance(PlotlyBundle, allow_none=True).tag(sync=True, **widget_serialization)
    _spm_plotly_version = traitlets.Unicode(plotly.__version__).tag(sync=True)

    def __init__(self, *args: Any, css_class: str = "spm-chart", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._spm_bundle = plotly_bundle()
        self._config = {**self._config, "responsive": True}  # redrawn to its box's width
        self.add_class("spm-chart")
        if css_class != "spm-chart":
            self.add_class(css_class)

    def _sync_state(self) -> None:
        """The full state sent to a page connecting later: the figure as it is now."""
        self._widget_layout = deepcopy(self._layout_obj._props)
        self._widget_data = deepcopy(self._data)

    def _send_restyle_msg(self, *args: Any, **kwargs: Any) -> None:
        super()._send_restyle_msg(*args, **kwargs)
        self._sync_state()

    def _send_relayout_msg(self, *args: Any, **kwargs: Any) -> None:
        super()._send_relayout_msg(*args, **kwargs)
        self._sync_state()

    def _send_update_msg(self, *args: Any, **kwargs: Any) -> None:
        super()._send_update_msg(*args, **kwargs)
        self._sync_state()

    def _send_addTraces_msg(self, *args: Any, **kwargs: Any) -> None:  # noqa: N802 - plotly's name
        super()._send_addTraces_msg(*args, **kwargs)
        self._sync_state()

    def _send_moveTraces_msg(self, *args: Any, **kwargs: Any) -> None:  # noqa: N802 - plotly's name
        super()._send_moveTraces_msg(*args, **kwargs)
        self._sync_state()

    def _send_deleteTraces_msg(self, *args: Any, **kwargs: Any) -> None:  # noqa: N802 - plotly's name
        super()._send_deleteTraces_msg(*args, **kwargs)
        self._sync_state()
