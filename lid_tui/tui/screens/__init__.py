"""Modal screens the app pushes over its main view: the LID primer and the connect form."""

from lid_tui.tui.screens.about import AboutScreen
from lid_tui.tui.screens.connect import ConnectScreen

__all__ = ["AboutScreen", "ConnectScreen"]
