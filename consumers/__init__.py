"""The team client: read a team's feed (immediate first), ack, reclaim what dead consumers left.

``TeamClient`` and ``Delivery`` (``consumers.client``); ``consumers.example_service`` is a runnable
FastStream example; the ``intelbus feed tail`` command is ``bus.cli.feed``. The
errors a team's code handles are here too: ``TransportError`` (Redis away or refusing; ``deliveries()``
retries it), ``GroupMissingError`` and their base ``BusError``.
"""

from bus.errors import BusError, GroupMissingError, TransportError
from consumers.client import Delivery, TeamClient

__all__ = ["BusError", "Delivery", "GroupMissingError", "TeamClient", "TransportError"]
