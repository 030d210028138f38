"""The terminal dashboard: one module per panel, the state they read, and the renderer."""

from burnish.renderer.tui.dashboard import Dashboard
from burnish.renderer.tui.keys import Controls, View
from burnish.renderer.tui.renderer import TuiRenderer
from burnish.renderer.tui.state import DashboardState
from burnish.renderer.tui.system import SYSTEM_ROWS, is_system_metric

__all__ = [
    "SYSTEM_ROWS",
    "Controls",
    "Dashboard",
    "DashboardState",
    "TuiRenderer",
    "View",
    "is_system_metric",
]
