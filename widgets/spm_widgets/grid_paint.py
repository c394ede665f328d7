"""One canvas copy per painted region of a data grid, instead of one per cell.

Why: ipydatagrid draws with lumino's ``DataGrid``. Its ``_drawCells`` paints each cell into an
off-screen buffer canvas and copies (``_blitContent``, a ``drawImage``) that cell onto the
visible canvas before it paints the next one. In Chromium without a GPU (software canvas, as on
remote desktops, VDI and headless browsers), every copy from a canvas that was drawn on since
the last copy snapshots the *whole* buffer: 2-3 ms per cell for a 1,024-1,536 px wide grid,
whatever the cell's size. Replacing a leaderboard's rows repaints about 120 cells: 250 ms of
copies, longer than the rest of a filter change together.

:class:`GridPaint` is an invisible anywidget each :class:`~spm_widgets.components.DataTable`
puts beside its grid. Once in each page, it wraps lumino's ``_drawCells`` so that the cell copies
it makes are queued and made after the region's last cell is painted: the buffer is snapshotted
once per region. The pixels are the same: each cell is painted only inside its own rectangle
(ipydatagrid's text renderers elide text to the cell's width and clip it to its height), the
copies are the same rectangles in the same order, and grid lines are drawn after ``_drawCells``
returns, as before. The browser test ``test_grid_paint_same_pixels`` compares the pixels painted
with and without it.

It relies on two private methods of lumino's ``DataGrid`` (``_drawCells``, ``_blitContent``);
when a lumino release renames them, nothing is wrapped and the grid paints as before
(``window.spmGridPaint`` then reads ``"unavailable"``).
"""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets
from ipywidgets import Layout, widget_serialization

GRID_PAINT_ESM = """
// spm_widgets.grid_paint: lumino DataGrid copies each painted region once, not once per cell
function luminoGridPrototype(view) {
  for (const candidate of [view && view.grid && view.grid.grid, view && view.grid]) {
    for (let proto = candidate && Object.getPrototypeOf(candidate); proto; proto = Object.getPrototypeOf(proto)) {
      const owns = (name) => Object.prototype.hasOwnProperty.call(proto, name);
      if (owns("_drawCells") && owns("_blitContent")) return proto;
    }
  }
  return null;
}

function queueCellCopies(proto) {
  if (proto.__spmGridPaint) return;
  const drawCells = proto._drawCells;
  const blitContent = proto._blitContent;
  proto.__spmGridPaint = { drawCells, blitContent };
  proto._blitContent = function (...args) {
    if (this.__spmQueuedCopies) this.__spmQueuedCopies.push(args);
    else blitContent.apply(this, args);
  };
  proto._drawCells = function (...args) {
    if (globalThis.spmGridPaint === "off" || this.__spmQueuedCopies) return drawCells.apply(this, args);
    const queued = (this.__spmQueuedCopies = []);
    try {
      return drawCells.apply(this, args);
    } finally {
      this.__spmQueuedCopies = null;
      for (const copy of queued) blitContent.apply(this, copy);
    }
  };
}

async function gridViews(model) {
  const id = String(model.get("grid") || "").replace(/^IPY_MODEL_/, "");
  if (!id) return [];
  const grid = await model.widget_manager.get_model(id);
  for (let attempt = 0; attempt < 100 && !Object.keys(grid.views || {}).length; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 50));  // the grid's view is rendered beside this one
  }
  return Promise.all(Object.values(grid.views || {}));
}

async function render({ model }) {
  if (globalThis.spmGridPaint === "queued") return;
  for (const view of await gridViews(model)) {
    const proto = luminoGridPrototype(view);
    if (proto) {
      queueCellCopies(proto);
      globalThis.spmGridPaint = "queued";
      return;
    }
  }
  globalThis.spmGridPaint ??= "unavailable";
}

export default { render };
"""


class GridPaint(anywidget.AnyWidget):  # type: ignore[misc]
    """Invisible: makes every lumino data grid on the page copy each painted region once (the
    grid given is only how it finds lumino's ``DataGrid`` class)."""

    _esm = traitlets.Unicode(GRID_PAINT_ESM).tag(sync=True)
    grid = traitlets.Any(None).tag(sync=True, **widget_serialization)

    def __init__(self, grid: Any, **kwargs: Any) -> None:
        super().__init__(grid=grid, layout=Layout(display="none"), **kwargs)
