"""The UI layer: ipywidgets panels on top of nasrec_lab (which never imports this package).

Every panel holds its widgets, calls the library, and has ``close()``; live figures are
plotly FigureWidgets updated in batches and at most a few times a second.
"""

from ._common import Panel, Throttle
from ._dashboard import Dashboard
from ._editor import SpaceEditor
from ._monitors import RankMonitor, TrainingMonitor
from ._pareto import ParetoExplorer
from ._viewer import ArchitectureViewer

__all__ = ["ArchitectureViewer", "Dashboard", "Panel", "ParetoExplorer", "RankMonitor", "SpaceEditor", "Throttle",
           "TrainingMonitor"]
