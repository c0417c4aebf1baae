"""The decision engine: the current index, reloaded atomically when the rules change, rate
limits on live counters, and the record of what it decided.

``Screener.decide(call)`` reads ``self._index`` once (an attribute swapped whole by a reload),
so a decision sees one rule set from start to end. A reload that fails (the state DB is down,
locked, or answers garbage) keeps the last good index and is counted; the next poll tries
again. Rules that start or expire are handled without the state DB: the index knows when its
next rule starts or expires and is rebuilt from the same rules then.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

import numpy as np

from tracehop.screening.counters import SlidingWindow
from tracehop.screening.index import ALLOW, Call, Decision, DnoSet, Index, build_index
from tracehop.screening.metrics import Metrics
from tracehop.screening.rules import KINDS, SHORT_CALL_SECONDS, Emergency, Rule
from tracehop.times import SYSTEM, Clock

log = logging.getLogger(__name__)


class RuleSource(Protocol):
    """Where rules come from: the state DB (``StoreSource``) or a fixed list (replay)."""

    def versions(self) -> tuple[int, int]: ...

    def rules(self) -> list[Rule]: ...

    def dno(self) -> np.ndarray: ...


class FixedSource:
    """Rules and DNO numbers given once (a proposed rule file, tests, benchmarks)."""

    def __init__(self, rules: list[Rule], dno: np.ndarray | None = None) -> None:
        self._rules = list(rules)
        self._dno = dno if dno is not None else np.zeros(0, dtype=np.uint64)

    def versions(self) -> tuple[int, int]:
        return (0, 0)

    def rules(self) -> list[Rule]:
        return self._rules

    def dno(self) -> np.ndarray:
        return self._dno


class StoreSource:
    """Rules and DNO lists from the state DB."""

    def __init__(self, store: object) -> None:
        self.store = store

    def versions(self) -> tuple[int, int]:
        from tracehop.screening.state import versions

        return versions(self.store)  # type: ignore[arg-type]

    def rules(self) -> list[Rule]:
        from tracehop.screening.state import load_rules

        return load_rules(self.store)  # type: ignore[arg-type]

    def dno(self) -> np.ndarray:
        from tracehop.screening.dno import load_dno

        return load_dno(self.store)  # type: ignore[arg-type]


AlertHandler = Callable[[dict[str, object]], None]


class Screener:
    """Decides calls. ``log`` (``audit.DecisionLog``) records blocks and alerts; ``metrics``
    counts for ``/metrics``; ``on_alert`` receives velocity alerts (the state DB and the
    webhook: ``alerts.AlertSink``)."""

    def __init__(
        self,
        source: RuleSource,
        *,
        emergency: Emergency | None = None,
        clock: Clock = SYSTEM,
        log: object | None = None,
        metrics: Metrics | None = None,
        on_alert: AlertHandler | None = None,
        freeze_gc: bool = False,
        on_loaded: Callable[[list[Rule], np.ndarray, tuple[int, int]], None] | None = None,
        fallback: Callable[[], RuleSource | None] | None = None,
    ) -> None:
        self.source = source
        self.freeze_gc = freeze_gc
        self.on_loaded = on_loaded  # after every good load (serving: the snapshot on disk)
        self.fallback = fallback  # when the first load fails (serving: that snapshot)
        self.from_snapshot = False
        self.emergency = emergency or Emergency()
        self.clock = clock
        self.audit = log
        self.metrics = metrics
        self.on_alert = on_alert
        self.counts: Counter[str] = Counter()
        self.by_rule: Counter[int] = Counter()
        self.reload_failures = 0
        self._rules: list[Rule] = []
        self._dno = DnoSet()
        self._numbers = np.zeros(0, dtype=np.uint64)
        self._versions: tuple[int, int] | None = None
        self._windows: dict[tuple[int, str, float], SlidingWindow] = {}
        self._alerted: dict[tuple[int, str], float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reload_lock = threading.Lock()
        self._load(first=True)

    # --- the index --------------------------------------------------------------------------

    @property
    def index(self) -> Index:
        return self._index

    def _build(self) -> None:
        index = build_index(
            self._rules, dno=self._dno, emergency=self.emergency, now=self.clock.now()
        )
        if index.next_change is None:
            deadline = float("inf")
        else:
            wait = (index.next_change - index.built_at).total_seconds()
            deadline = self.clock.monotonic() + max(0.0, wait)
        self._deadline = deadline
        self._index = index  # the swap: one assignment
        if self.metrics is not None:
            self.metrics.rules = len(index.rules)
            self.metrics.dno_numbers = len(self._dno)

    def _load(self, *, first: bool = False) -> bool:
        with self._reload_lock:
            try:
                versions = self.source.versions()
                if versions == self._versions and not first:
                    return False
                rules = self.source.rules()
                dno, numbers = self._dno, self._numbers
                if self._versions is None or versions[1] != self._versions[1]:
                    numbers = self.source.dno()
                    dno = DnoSet(numbers.tolist())
            except Exception as exc:
                self.reload_failures += 1
                if self.metrics is not None:
                    self.metrics.reloads["failed"] += 1
                if first:
                    return self._fall_back(exc)
                log.warning("screening: reload failed, keeping the last good rules: %s", exc)
                return False
            self._rules, self._dno, self._numbers, self._versions = rules, dno, numbers, versions
            self.from_snapshot = False
            self._build()
            if self.freeze_gc:
                # a serving process: the index (hundreds of thousands of objects) is kept out
                # of the garbage collector's full passes, which would otherwise pause answers
                # for tens of milliseconds
                gc.collect()
                gc.freeze()
            if self.metrics is not None:
                self.metrics.reloads["ok"] += 1
            if self.on_loaded is not None:
                try:
                    self.on_loaded(rules, numbers, versions)
                except Exception as exc:  # a full disk must not stop the screening
                    log.error("screening: could not keep a snapshot of the rules: %s", exc)
            return True

    def _fall_back(self, exc: Exception) -> bool:
        """The first load failed: start with the last good rules kept on disk, if any."""
        source = self.fallback() if self.fallback is not None else None
        if source is None:
            raise exc
        log.warning(
            "screening: the state DB is unavailable (%s): serving the last rules loaded before; "
            "they are replaced as soon as it answers",
            exc,
        )
        self._rules = source.rules()
        self._numbers = source.dno()
        self._dno = DnoSet(self._numbers.tolist())
        self._versions = (-1, -1)  # whatever the state DB says next differs: reload then
        self.from_snapshot = True
        self._build()
        return False

    def reload(self) -> bool:
        """Reload from the source if it changed; False if unchanged or failed (the last good
        index stays)."""
        return self._load()

    def watch(self, interval: float) -> None:
        """Poll the source every ``interval`` seconds on a thread (``stop()`` ends it)."""

        def run() -> None:
            while not self._stop.wait(interval):
                self.reload()

        self._thread = threading.Thread(target=run, name="screen-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- deciding ---------------------------------------------------------------------------

    def decide(self, call: Call, *, source: str = "api", at: float | None = None) -> Decision:
        """Decide one call. ``at``: the call's own time in seconds (a replay), which the rate
        counters use instead of the clock."""
        metrics = self.metrics
        started = time.perf_counter() if metrics is not None else 0.0
        now = self.clock.monotonic()
        if now >= self._deadline and self._reload_lock.acquire(blocking=False):
            try:  # a rule started or expired (a reload in progress builds it anyway)
                self._build()
            finally:
                self._reload_lock.release()
        index = self._index
        d = index.decide_static(call)
        undecided = d is None or (d.rule_id is None and not d.emergency)
        if undecided and (index.velocity or index.monitor_velocity):
            d = self._velocity(index, call, now if at is None else at, d)
        if d is None:
            d = ALLOW
        # counted here rather than in a helper: this runs for every call
        counts = self.counts
        counts[d.action] += 1
        if d.rule_id is not None:
            self.by_rule[d.rule_id] += 1
        if d.monitored:
            for rid in d.monitored:
                self.by_rule[rid] += 1
        if d.emergency:
            counts["emergency"] += 1
        if metrics is not None:
            metrics.decided(
                d.action, source, time.perf_counter() - started, len(d.monitored), d.emergency
            )
        if d.action == "block" and self.audit is not None and source != "check":
            self.audit.block(call, d, self.clock.now(), source)  # type: ignore[attr-defined]
        return d

    def _velocity(
        self, index: Index, call: Call, t: float, base: Decision | None
    ) -> Decision | None:
        """Velocity rules: rate limits count the call; short-call shares read the outcomes
        recorded so far. The first enforced block over its limit blocks; each limit crossed
        is alerted once a window per rule and key."""
        monitored = list(base.monitored) if base is not None else []
        blocked: Decision | None = None
        for rule in (*index.velocity, *index.monitor_velocity):
            p = rule.params or {}
            key = _key(call, p.get("subject"))
            if not key or (rule.value != "*" and key != rule.value):
                continue
            if rule.kind == "rate":
                n = self._window(rule.id, "calls", p["window"]).hit(key, t)
                if n <= p["limit"]:
                    continue
                why = f"over {p['limit']} calls in {p['window']:g} s"
                self._alert(rule, key, t, count=n, limit=p["limit"], detail=why)
            else:
                answered = self._window(rule.id, "answered", p["window"]).count(key, t)
                if answered < p["min_answered"]:
                    continue
                short = self._window(rule.id, "short", p["window"]).count(key, t)
                if short / answered < p["share"]:
                    continue
                why = (
                    f"short-call share {short / answered:.0%} >= {p['share']:.0%} over "
                    f"{answered:.0f} answered calls in {p['window']:g} s"
                )
                self._alert(rule, key, t, count=short, limit=answered, detail=why)
            if rule.mode != "enforce":
                monitored.append(rule.id)
            elif rule.action == "block" and blocked is None:
                blocked = Decision(
                    "block",
                    rule.sip_code or 603,
                    f"rule {rule.id}: {why} from {p['subject']} {key}: {rule.reason}",
                    rule.id,
                    (),
                    KINDS[rule.kind].cause,
                )
        if blocked is not None:
            return Decision(
                blocked.action,
                blocked.sip_code,
                blocked.reason,
                blocked.rule_id,
                tuple(monitored),
                blocked.cause,
            )
        if monitored and (base is None or tuple(monitored) != base.monitored):
            return Decision("allow", None, "no rule matched", None, tuple(monitored))
        return base

    def _window(self, rule_id: int, what: str, seconds: float) -> SlidingWindow:
        window = self._windows.get((rule_id, what, seconds))
        if window is None:
            window = self._windows[(rule_id, what, seconds)] = SlidingWindow(seconds)
        return window

    def record_outcome(
        self, call: Call, *, answered: bool, duration: float, at: float | None = None
    ) -> None:
        """How a call ended (the switch's CDR, ``POST /api/v1/screen/outcome``, or a replay):
        what short-call share rules count. Unanswered calls do not count (the share is of
        answered calls)."""
        rules = self._index.share_rules
        if not rules or not answered:
            return
        t = self.clock.monotonic() if at is None else at
        for rule in rules:
            p = rule.params or {}
            key = _key(call, p.get("subject"))
            if not key or (rule.value != "*" and key != rule.value):
                continue
            self._window(rule.id, "answered", p["window"]).hit(key, t)
            if duration < SHORT_CALL_SECONDS:
                self._window(rule.id, "short", p["window"]).hit(key, t)

    def _alert(
        self, rule: Rule, key: str, t: float, *, count: float, limit: float, detail: str
    ) -> None:
        p = rule.params or {}
        window = float(p["window"])
        bucket = t - (t % window)
        if self._alerted.get((rule.id, key)) == bucket:
            return  # once a window per rule and key
        if len(self._alerted) > 100_000:
            self._alerted.clear()
        self._alerted[(rule.id, key)] = bucket
        alert = {
            "at": self.clock.now(),
            "rule_id": rule.id,
            "action": rule.action if rule.mode == "enforce" else "alert",
            "subject_kind": p.get("subject", ""),
            "subject": key,
            "count": int(count),
            "limit": int(limit),
            "window_seconds": int(window),
            "detail": detail,
        }
        if self.metrics is not None:
            self.metrics.alerts[str(alert["action"])] += 1
        if self.audit is not None:
            self.audit.alert(alert)  # type: ignore[attr-defined]
        if self.on_alert is not None:
            self.on_alert(alert)

    def status(self) -> dict[str, object]:
        index = self._index
        return {
            "rules": index.stats(),
            "built_at": index.built_at,
            "next_change": index.next_change,
            "versions": self._versions,
            "decisions": dict(self.counts),
            "reload_failures": self.reload_failures,
        }


def _key(call: Call, subject: object) -> str | None:
    """The call field a velocity rule counts by."""
    if subject == "customer":
        return call.upstream
    if subject == "caller_id":
        return call.caller
    return call.called
