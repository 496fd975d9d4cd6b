"""``intelbus screen``: a backlog of submissions turned into an analyst's work list, offline (issue 13).

``screen`` (``worklist``) decides each line with the pure engine and sorts what it found; ``tables``
lays the lists out for CSV; ``report`` draws the self-contained HTML page with its charts.
"""

from bus.screen.worklist import Screener, Worklist, screen

__all__ = ["Screener", "Worklist", "screen"]
