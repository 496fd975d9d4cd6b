"""The private redis-server harness, shared with the benchmarks: it lives in ``bus.servers``."""

from bus.servers import RedisProc, free_port, server_version, stop_process

__all__ = ["RedisProc", "free_port", "server_version", "stop_process"]
