"""A private Redis Cluster of redis-server processes on free ports, for tests, benchmarks and trying the bus.

``LocalCluster(folder, masters=3, replicas=1).start()`` starts ``masters * (1 + replicas)`` nodes (each a
:class:`bus.servers.RedisProc` with ``cluster-enabled yes``, AOF ``appendfsync always``), joins them with
``redis-cli --cluster create`` and waits until every node says ``cluster_state:ok`` and every replica is in
sync with its master. :meth:`LocalCluster.master_of` names the node serving a slot, which a test can
SIGKILL (``kill9``) to make its replica take over (after ``node_timeout_ms``).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import redis

from bus.cluster import master_of
from bus.redis_binary import find_redis_cli
from bus.servers import RedisProc, free_cluster_port

READY_TIMEOUT = 30.0


def _ask(client: redis.Redis, *args: str) -> Any:
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


class LocalCluster:
    def __init__(self, folder: Path, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 1000,
                 durable: bool = True, extra: tuple[str, ...] = ()) -> None:
        self.folder = folder
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.durable = durable
        self.extra = extra
        self.nodes: list[RedisProc] = []

    @property
    def url(self) -> str:
        """The ``redis+cluster://`` URL naming every node as a seed."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def start(self, timeout: float = READY_TIMEOUT) -> LocalCluster:
        try:
            for index in range(self.masters * (1 + self.replicas)):
                port = free_cluster_port()
                folder = self.folder / f"node-{port}"
                node = RedisProc(folder, port=port, durable=self.durable, extra=(
                    "--cluster-enabled", "yes", "--cluster-config-file", str(folder / "nodes.conf"),
                    "--cluster-node-timeout", str(self.node_timeout_ms), *self.extra))
                self.nodes.append(node)
                node.start()
                del index
            self._create()
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _create(self) -> None:
        cli = find_redis_cli()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        done = subprocess.run([str(cli), "--cluster", "create", *addresses, "--cluster-replicas",
                               str(self.replicas), "--cluster-yes"], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def running(self) -> list[RedisProc]:
        return [node for node in self.nodes if node.pid is not None]

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Until every running node says ``cluster_state:ok``, all 16384 slots are served by running masters,
        each running replica's link to its master is up, and (all nodes running) every master's replicas are
        listed in ``CLUSTER SLOTS`` (which lists a replica once its offset has been gossiped)."""
        deadline = time.monotonic() + timeout
        while not self._ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ready after {timeout} s: {self._describe()}")
            time.sleep(0.05)

    def _ready(self) -> bool:
        ports = {node.port for node in self.running()}
        for node in self.running():
            client = node.client(timeout=1.0, retry=False)
            try:
                if b"cluster_state:ok" not in _ask(client, "CLUSTER", "INFO"):
                    return False
                rows = _ask(client, "CLUSTER", "SLOTS")
                served: int = sum(int(row[1]) - int(row[0]) + 1 for row in rows if int(row[2][1]) in ports)
                listed = min(len(row) - 3 for row in rows)  # replicas the cluster lists as available
                info = client.info("replication")
                if served != 16384 or listed < self._replicas_up() or (
                        info["role"] == "slave" and info.get("master_link_status") != "up"):
                    return False
            except redis.RedisError:
                return False
            finally:
                client.close()
        return True

    def _replicas_up(self) -> int:
        """The replicas each master should have now: as many as were made, less one per node not running
        (a dead master's replica is promoted and has none until the dead node rejoins)."""
        return max(0, self.replicas - (len(self.nodes) - len(self.running())))

    def _describe(self) -> str:
        states = []
        for node in self.running():
            client = node.client(timeout=1.0, retry=False)
            try:
                states.append(f"{node.port}: {_ask(client, 'CLUSTER', 'INFO').split()[0].decode()}")
            except redis.RedisError as exc:
                states.append(f"{node.port}: {exc}")
            finally:
                client.close()
        return "; ".join(states)

    def master_of(self, slot: int) -> RedisProc:
        """The running node that serves ``slot`` now (asked of a running node)."""
        for asker in self.running():
            client = asker.client(timeout=1.0, retry=False)
            try:
                found = master_of(_ask(client, "CLUSTER", "SLOTS"), slot)
            except redis.RedisError:
                continue
            finally:
                client.close()
            if found is not None:
                return next(node for node in self.nodes if node.port == found[1])
        raise RuntimeError(f"no running node knows who serves slot {slot}")

    def replicas_of(self, master: RedisProc) -> list[RedisProc]:
        client = master.client(timeout=1.0, retry=False)
        try:
            info = client.info("replication")
        finally:
            client.close()
        ports = {int(value["port"]) for key, value in info.items() if key.startswith("slave") and
                 isinstance(value, dict)}
        return [node for node in self.nodes if node.port in ports]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
