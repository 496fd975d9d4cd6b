"""The one settings object, built at the entry point and passed down.

Library code never reads the environment: ``Settings()`` reads it once (``INTELBUS_*`` variables, and
``REDIS_URL``), the CLI overrides from its flags, and the result travels as an argument.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus.cluster import SCHEME as CLUSTER_SCHEME
from bus.cluster import for_slot, is_cluster, needs_region
from bus.cluster import parse as parse_cluster
from bus.keys import REGION, Keys
from bus.replicas import Durability


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTELBUS_", extra="ignore", populate_by_name=True,
                                      hide_input_in_errors=True)  # never echo a REDIS_URL password

    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "INTELBUS_REDIS_URL"),
        description="Redis to use; when unset, a private embedded redis-server is started.",
    )
    data_dir: Path = Field(
        default=Path(".intelbus"),
        description="Folder of the embedded redis-server (AOF, socket, pid file, log).",
    )
    appendfsync: str = Field(
        default="always",
        pattern="^(always|everysec|no)$",
        description="Embedded server's AOF fsync policy: always loses nothing acknowledged.",
    )
    prefix: str = Field(default="intel", pattern=r"^[A-Za-z0-9_.-]+$", description="Key prefix.")
    region: str | None = Field(default=None, pattern=REGION.pattern, description=(
        "The region's id, its keys' hash tag (<prefix>:{<region>}:...): one Redis Cluster slot per region. "
        "Unset: keys as before."))
    replicas: int = Field(default=0, ge=0, le=16, description=(
        "Replicas each write must reach (WAIT) before a publish or a commit counts as acknowledged. Default 0: no "
        "WAIT; set 1 on a cluster with one replica per master (bus.replicas)."))
    replica_timeout_ms: int = Field(default=1000, ge=1, le=4000, description=(
        "How long one WAIT may take; at most 4000, below the connections' 5 s read timeout, beyond which a "
        "WAIT still waiting would read as a lost connection."))
    replicas_strict: bool = Field(default=False, description=(
        "Never acknowledge a publish on fewer replicas than INTELBUS_REPLICAS (it fails and is retried); "
        "default: acknowledge on as many as the region's master has, counted as degraded (bus.replicas)."))
    ruleset: Path | None = Field(default=None, description="Ruleset file; default: the shipped one.")
    reference: Path | None = Field(default=None, description="OCG register folder; default: sample.")
    batch_size: int = Field(default=200, ge=1, le=10_000, description="Most entries one read takes (all streams).")
    read_bytes: int = Field(default=1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024,
                            description="Most bytes of entries one read or scan copies (plus one entry).")
    block_ms: int = Field(default=50, ge=1, description="How long the router and scout wait when nothing is new.")
    claim_idle_ms: int = Field(default=30_000, ge=100, description="Idle time before pending is reclaimed.")
    max_deliveries: int = Field(default=5, ge=1, description="Deliveries before an entry is poison.")
    consumer_name: str | None = Field(default=None, description="Consumer name; default host-pid.")
    audit_checkpoints: bool = Field(default=True, description="The router signs audit checkpoints (intelbus audit).")
    audit_key: Path | None = Field(
        default=None,
        description="Ed25519 PEM private key signing checkpoints; default: made in <data_dir>/audit on first start.",
    )
    metrics_port: int | None = Field(default=None, ge=0, le=65_535,
                                     description="The router's /metrics, /healthz and /readyz port; off when unset.")
    metrics_host: str = Field(default="127.0.0.1", description="Address the metrics port listens on.")
    console_port: int = Field(default=8470, ge=1, le=65_535, description="Port of intelbus console's web pages.")
    console_host: str = Field(default="127.0.0.1", description="Address intelbus console listens on.")
    console_log: Path | None = Field(
        default=None,
        description="The console's consultation log (JSON lines); default: <data_dir>/console/consultations.jsonl.",
    )
    retention: Path | None = Field(default=None,
                                   description="Retention file (periods, legal holds); default: the shipped one.")
    retention_run: bool = Field(default=True, description="The router runs retention (intelbus retention run).")
    retention_interval_ms: int = Field(default=300_000, ge=1_000, le=86_400_000,
                                       description="How often the router runs retention (first after one interval).")
    audit_interval_ms: int = Field(default=1000, ge=50, le=60_000,
                                   description="How often checkpoints are signed while any audit log grows.")

    def keys(self) -> Keys:
        """The keys of this bus: its prefix and, when set, its region's hash tag."""
        return Keys.of(self.prefix, self.region)

    def durability(self) -> Durability:
        return Durability(self.replicas, self.replica_timeout_ms, self.replicas_strict)

    def cluster_url(self) -> str | None:
        """``redis_url`` pinned to the region's slot when it is a cluster's (``bus.cluster``); else None.
        Raises ``ValueError`` when a cluster is named with no region."""
        if not is_cluster(self.redis_url):
            return None
        return for_slot(str(self.redis_url), needs_region(self.keys().slot))

    @property
    def region_dir(self) -> Path:
        """Where this bus keeps what is its own outside Redis (audit key and checkpoints, archive, console log):
        ``data_dir``, or ``data_dir/regions/<region>``, so that regions sharing a data folder (and an embedded
        Redis) never share an archive or a checkpoint file."""
        return self.data_dir if self.region is None else self.data_dir / "regions" / self.region

    @field_validator("region")
    @classmethod
    def _a_region(cls, region: str | None) -> str | None:
        if region in RESERVED_REGIONS:
            raise ValueError(f"region {region!r} is a name the bus's documents already use for a parameter; "
                             "choose another region id")
        return region

    @field_validator("redis_url")
    @classmethod
    def _a_redis_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(REDIS_SCHEMES):
            shown = re.sub(r"//[^@/]*@", "//***@", url)  # never echo a password
            raise ValueError(f"{shown!r} is not a Redis URL: redis://host:port[/db], rediss://... (TLS), "
                             "unix:///path/to/socket or redis+cluster://host:port[,host:port...] (a Redis "
                             "Cluster, with INTELBUS_REGION); unset it to use the embedded server")
        if url is not None and url.startswith(CLUSTER_SCHEME):
            parse_cluster(url)  # its ValueError says what is wrong, without the password
        return url


REDIS_SCHEMES = ("redis://", "rediss://", "unix://", CLUSTER_SCHEME)
RESERVED_REGIONS = ("partner", "team")  # the AsyncAPI document's address parameters (bus.asyncapi)
