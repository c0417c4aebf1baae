"""Prometheus metrics of a screener (``/metrics``): decisions by action and where they came
from, decision latency, SIP messages by kind, reloads, velocity alerts.

The call path only adds to plain Python counters (an increment and a bucket index: well under
a microsecond); the Prometheus families are built from them when ``/metrics`` is read, by a
collector registered in a registry of its own per screener (two in one process do not mix).
``prometheus_client``'s own Counter and Histogram take a lock on every update, which cost
about 6 us a decision here (benchmarks/screen.py).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

__all__ = ["CONTENT_TYPE", "Metrics"]

LATENCY_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2, 0.1)


class Metrics:
    def __init__(self) -> None:
        self.decisions: Counter[tuple[str, str]] = Counter()
        self.latency = [0] * (len(LATENCY_BUCKETS) + 1)  # the last: above every bucket
        self.latency_sum = 0.0
        self.monitored = 0
        self.emergency = 0
        self.sip: Counter[str] = Counter()
        self.reloads: Counter[str] = Counter()
        self.alerts: Counter[str] = Counter()
        self.rules = 0
        self.dno_numbers = 0
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(self))

    def decided(
        self, action: str, source: str, seconds: float, monitored: int, emergency: bool
    ) -> None:
        self.decisions[(action, source)] += 1
        self.latency[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds
        if monitored:
            self.monitored += monitored
        if emergency:
            self.emergency += 1

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Collector:
    def __init__(self, m: Metrics) -> None:
        self.m = m

    def describe(self) -> list[Metric]:
        return []  # built at each scrape (no fixed label sets to describe up front)

    def collect(self) -> Iterator[Metric]:
        m = self.m
        c = CounterMetricFamily(
            "tracehop_screen_decisions",
            "Screening decisions by action (allow, block) and source (sip, http, replay).",
            labels=["action", "source"],
        )
        for (action, source), n in sorted(m.decisions.items()):
            c.add_metric([action, source], n)
        yield c
        yield CounterMetricFamily(
            "tracehop_screen_monitor_matches",
            "Matches of rules in monitor mode (would have applied; never did).",
            value=m.monitored,
        )
        yield CounterMetricFamily(
            "tracehop_screen_emergency_calls",
            "Calls to emergency numbers (always allowed).",
            value=m.emergency,
        )
        cumulative, buckets = 0, []
        for bound, n in zip((*LATENCY_BUCKETS, float("inf")), m.latency, strict=True):
            cumulative += n
            buckets.append((_le(bound), cumulative))
        yield HistogramMetricFamily(
            "tracehop_screen_decision_seconds",
            "Time to decide one call, in the engine.",
            buckets=buckets,
            sum_value=m.latency_sum,
        )
        for name, helptext, counts in (
            (
                "tracehop_screen_sip_messages",
                "SIP messages received by kind (invite, retransmission, ack, cancel, options, "
                "other, response, malformed, error).",
                m.sip,
            ),
            ("tracehop_screen_reloads", "Rule reloads by result (ok, failed).", m.reloads),
            ("tracehop_screen_alerts", "Velocity triggers fired, by action.", m.alerts),
        ):
            label = "kind" if "sip" in name else "result" if "reload" in name else "action"
            f = CounterMetricFamily(name, helptext, labels=[label])
            for key, n in sorted(counts.items()):
                f.add_metric([key], n)
            yield f
        yield GaugeMetricFamily("tracehop_screen_rules", "Rules in force.", value=m.rules)
        yield GaugeMetricFamily(
            "tracehop_screen_dno_numbers", "Numbers on DNO lists.", value=m.dno_numbers
        )


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
