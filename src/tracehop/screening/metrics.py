"""Prometheus metrics of a screener (``/metrics``): decisions by action and where they came
from, decision latency, SIP messages by kind, reloads. A registry of its own per screener, so
two in one process (tests) do not mix."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics"]

LATENCY_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2, 0.1)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decisions = Counter(
            "tracehop_screen_decisions",
            "Screening decisions by action (allow, block) and source (sip, http, replay).",
            ["action", "source"],
            registry=r,
        )
        self.monitored = Counter(
            "tracehop_screen_monitor_matches",
            "Matches of rules in monitor mode (would have applied; never did).",
            registry=r,
        )
        self.emergency = Counter(
            "tracehop_screen_emergency_calls",
            "Calls to emergency numbers (always allowed).",
            registry=r,
        )
        self.latency = Histogram(
            "tracehop_screen_decision_seconds",
            "Time to decide one call, in the engine.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.sip = Counter(
            "tracehop_screen_sip_messages",
            "SIP messages received by kind (invite, retransmission, ack, cancel, options, "
            "other, response, malformed).",
            ["kind"],
            registry=r,
        )
        self.reloads = Counter(
            "tracehop_screen_reloads",
            "Rule reloads by result (ok, failed).",
            ["result"],
            registry=r,
        )
        self.alerts = Counter(
            "tracehop_screen_alerts", "Velocity triggers fired, by action.", ["action"], registry=r
        )
        self.rules = Gauge("tracehop_screen_rules", "Rules in force.", registry=r)
        self.dno_numbers = Gauge("tracehop_screen_dno_numbers", "Numbers on DNO lists.", registry=r)
        self._children: dict[tuple[str, str], object] = {}

    def decided(self, action: str, source: str, seconds: float) -> None:
        child = self._children.get((action, source))
        if child is None:
            child = self._children[(action, source)] = self.decisions.labels(action, source)
        child.inc()  # type: ignore[attr-defined]
        self.latency.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
