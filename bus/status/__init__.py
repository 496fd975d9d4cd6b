"""``intelbus status``: the bus at a glance for operators (``figures``: what Redis says; ``render``: tables)."""
