"""The router's metrics, in Prometheus's text format (pure: ``render`` turns figures into the exposition).

Counters are this process's since it started (``bus.progress.RouterStats``); gauges are what Redis says at
scrape time (``bus.status.figures``). Names carry their units and counters end in ``_total``; labels are
partner, team, lane and status, never a submission id or anything a partner wrote.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bus.progress import RouterStats
from bus.status.figures import Status, StreamFigures

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(stats: RouterStats, status: Status | None, ready: bool) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Figures(stats, status, ready))
    return generate_latest(registry)


class _Figures(Collector):
    def __init__(self, stats: RouterStats, status: Status | None, ready: bool) -> None:
        self.stats, self.status, self.ready = stats, status, ready

    def collect(self) -> Iterator[Metric]:
        yield from _counters(self.stats)
        ready = GaugeMetricFamily("intelbus_router_ready", "1 when connected to Redis and consuming")
        ready.add_metric([], 1.0 if self.ready else 0.0)
        yield ready
        if self.status is not None:
            yield from _gauges(self.status)


def _counters(stats: RouterStats) -> Iterator[Metric]:
    decisions = CounterMetricFamily("intelbus_decisions", "Decisions this router committed, by status",
                                    labels=["status"])
    for status, count in (("routed", stats.routed + stats.scouted), ("quarantined", stats.quarantined),
                          ("duplicate", stats.duplicate), ("poison", stats.poison)):
        decisions.add_metric([status], count)
    yield decisions
    for name, doc, value in (
            ("intelbus_scouted", "Threat-to-life entries the scout routed ahead of the queue", stats.scouted),
            ("intelbus_batches", "Batches the router read and committed", stats.batches),
            ("intelbus_processing_failures", "Entries whose processing failed (left pending, retried)", stats.failed),
            ("intelbus_ingress_trimmed_entries", "Unread entries a partner trimmed away (audited)", stats.trimmed),
            ("intelbus_ingress_deleted_entries", "Pending entries deleted before a decision (audited)",
             stats.deleted),
            ("intelbus_commits_unreplicated", "Commits acknowledged on fewer replicas than INTELBUS_REPLICAS "
             "(a master without its replicas after a failover, or a WAIT that timed out)", stats.replication.short)):
        counter = CounterMetricFamily(name, doc)
        counter.add_metric([], value)
        yield counter


def _gauges(status: Status) -> Iterator[Metric]:
    ingress = _family("intelbus_ingress", ["partner"])
    for partner, figures in status.ingress.items():
        _add(ingress, [partner], figures)
    yield from ingress.values()
    feeds = _family("intelbus_feed", ["team", "lane"])
    for name, figures in status.feeds.items():
        team, _, lane = name.partition(":")
        _add(feeds, [team, lane or "routine"], figures)
    yield from feeds.values()
    quarantined = GaugeMetricFamily("intelbus_quarantined_last_hour_entries", "Entries quarantined in the last hour")
    quarantined.add_metric([], sum(status.quarantined.get("hour", {}).values()))
    yield quarantined
    if status.last_checkpoint_ms is not None:
        checkpoint = GaugeMetricFamily("intelbus_audit_checkpoint_age_seconds", "Age of the newest signed checkpoint")
        checkpoint.add_metric([], (status.at_ms - status.last_checkpoint_ms) / 1000)
        yield checkpoint


def _family(prefix: str, labels: list[str]) -> dict[str, GaugeMetricFamily]:
    what = "the router group" if prefix == "intelbus_ingress" else "the team group"
    return {
        "waiting": GaugeMetricFamily(f"{prefix}_waiting_entries", f"Entries {what} has not read yet", labels=labels),
        "pending": GaugeMetricFamily(f"{prefix}_pending_entries", f"Entries {what} read, not acknowledged",
                                     labels=labels),
        "oldest": GaugeMetricFamily(f"{prefix}_oldest_unacknowledged_age_seconds",
                                    f"Age of the oldest entry {what} has not acknowledged (0: none)", labels=labels),
    }


def _add(family: dict[str, GaugeMetricFamily], labels: list[str], figures: StreamFigures) -> None:
    family["waiting"].add_metric(labels, figures.waiting)
    family["pending"].add_metric(labels, figures.pending)
    ages = [a for a in (figures.oldest_waiting_ms, figures.oldest_pending_ms) if a is not None]
    family["oldest"].add_metric(labels, max(ages, default=0) / 1000)
