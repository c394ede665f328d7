"""ipywidgets components of the SPM workbench. Each component separates its state (a
traitlets model, testable without a browser) from its view."""

from spm_widgets.overview import OverviewModel, OverviewView

__all__ = ["OverviewModel", "OverviewView"]
