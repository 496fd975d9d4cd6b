"""``python -m bus.cli``: the same as the ``intelbus`` command."""

import sys

from bus.cli import main

sys.exit(main())
