"""The team client: read a team's feed (immediate first), ack, reclaim what dead consumers left.

``TeamClient`` and ``Delivery`` (``consumers.client``); ``consumers.example_service`` is a runnable
FastStream example; the ``intelbus feed tail`` command is ``bus.cli.feed``. Every read and ack through
``TeamClient`` writes a consultation record (``bus.audit.consult``) to the team's ``intel:consult:<team>``.
The errors a team's code handles are here too: ``TransportError`` (Redis away or refusing; ``deliveries()``
retries it), ``GroupMissingError``, ``ConsultationError`` (the consultation record could not be written:
the read hands out nothing) and their base ``BusError``.
"""

from bus.errors import BusError, ConsultationError, GroupMissingError, TransportError
from consumers.client import Delivery, TeamClient

__all__ = ["BusError", "ConsultationError", "Delivery", "GroupMissingError", "TeamClient", "TransportError"]
