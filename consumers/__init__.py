"""The team client: read a team's feed (immediate first), ack, reclaim what dead consumers left.

``TeamClient`` and ``Delivery`` (``consumers.client``), ``tail`` (the ``intelbus feed tail`` command's
body, ``consumers.feed_cmd``); ``consumers.example_service`` is a runnable FastStream example.
"""

from consumers.client import Delivery, TeamClient
from consumers.feed_cmd import tail

__all__ = ["Delivery", "TeamClient", "tail"]
