"""Retention (``intelbus retention``): what may leave Redis, when, and the proof that it was safe.

``policy`` (the periods and legal holds, as data), ``watermark`` (pure: the newest id safe to trim below,
and what blocks it), ``facts`` (what Redis says of each stream's readers), ``plan`` and ``run``.
"""
