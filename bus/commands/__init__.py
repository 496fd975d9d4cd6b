"""One module per command of the ``intelbus`` CLI; ``bus.cli`` only parses and dispatches."""
