"""``python -m bus.health``: the container healthcheck (Dockerfile ``HEALTHCHECK``, compose).

Exits 0 when the router's ``/readyz`` on ``INTELBUS_METRICS_HOST``:``INTELBUS_METRICS_PORT`` answers 200,
1 when it does not (with the reason on stderr); 0 when no metrics port is set (a container of the image
that runs no router: the deploy step, a team service). ``--console``: the same for ``intelbus console``'s
``/healthz`` on ``INTELBUS_CONSOLE_PORT`` (default 8470).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main(argv: list[str] | None = None) -> int:
    console = "--console" in (sys.argv[1:] if argv is None else argv)
    variable = "INTELBUS_CONSOLE" if console else "INTELBUS_METRICS"
    port = os.environ.get(f"{variable}_PORT", "8470" if console else "")
    if not port:
        return 0
    if port == "0":
        print(f"{variable}_PORT=0 (a free port each start) cannot be checked from outside", file=sys.stderr)
        return 1
    host = os.environ.get(f"{variable}_HOST", "127.0.0.1")
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # listening everywhere: ask it locally
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/{'healthz' if console else 'readyz'}", timeout=3) as reply:
            return 0 if reply.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(f"not ready: {exc.read().decode(errors='replace').strip()}", file=sys.stderr)
    except OSError as exc:
        print(f"no answer on port {port}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
