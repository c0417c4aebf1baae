"""A screener built from the settings and the state DB, as the shells use it: ``tracehop
screen check|serve``, the HTTP decide API, the demo."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from dataclasses import dataclass, replace
from typing import Any

from tracehop.errors import InputError
from tracehop.screening.alerts import AlertSink
from tracehop.screening.audit import DecisionLog, screening_dir
from tracehop.screening.engine import Screener, StoreSource
from tracehop.screening.identity import IdentityCheck, IdentityPolicy
from tracehop.screening.index import Decision, make_call
from tracehop.screening.metrics import Metrics
from tracehop.screening.rules import Emergency, Rule, make_rule
from tracehop.screening.sip import RedirectCore, TrunkMap, upstream_sources
from tracehop.settings import Settings
from tracehop.store import Store
from tracehop.times import SYSTEM, Clock


class RetryingStore:
    """The state DB, opened on first use and again after each failure: a redirect server can
    start while the database is down (with the last good rules, ``snapshot.py``) and pick the
    rules up when it answers. Has what the screening code asks of a store: ``session()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None

    def session(self):  # type: ignore[no-untyped-def]
        if self._store is None:
            from tracehop.store import open_store

            self._store = open_store(self.settings)  # StoreError while it is down
        return self._store.session()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def emergency_of(settings: Settings) -> Emergency:
    return Emergency.from_setting(settings.screen_psaps)


def add_checked_rule(
    settings: Settings,
    store: Store,
    kind: str,
    value: str,
    *,
    reason: str,
    author: str,
    clock: Clock = SYSTEM,
    **options: Any,
) -> Rule:
    """Check and store one rule, as ``tracehop block add``, the rules page and ``POST
    /api/v1/rules`` do: refused (``InputError``) when it would block an emergency number or
    does not hold together, refused (``ConflictError``) when a provider block has no notice
    to the Commission recorded (47 CFR 64.1200(k)(4)) or a rule in force already applies.
    ``options``: the rest of ``rules.make_rule``'s (action, sip_code, mode, expires_at, ...)."""
    from tracehop.screening.state import add_rule

    kind = kind.strip().lower().replace("-", "_")
    rule = make_rule(kind, value, reason=reason, emergency=emergency_of(settings), author=author,
                     now=clock.now(), **options)  # fmt: skip
    return add_rule(store, rule, clock=clock)


@dataclass
class Service:
    """A serving screener and what it writes to; ``close()`` stops the reloads and writes
    what the audit log and the alert sink still hold."""

    screener: Screener
    log: DecisionLog
    alerts: AlertSink
    metrics: Metrics

    def close(self) -> None:
        self.screener.stop()
        self.log.close()
        self.alerts.close()


def serving(
    settings: Settings, store: Store, *, clock: Clock = SYSTEM, watch: bool = True
) -> Service:
    """A screener that serves calls: audit log, alerts to the state DB (and the webhook),
    metrics, and a thread that reloads when the rules change."""
    from tracehop.screening import snapshot

    metrics = Metrics()
    folder = screening_dir(settings.home)
    log = DecisionLog(folder, cdrs=settings.screen_block_cdrs)
    alerts = AlertSink(store, webhook=settings.screen_webhook)
    try:
        screener = Screener(
            StoreSource(store),
            emergency=emergency_of(settings),
            clock=clock,
            log=log,
            metrics=metrics,
            on_alert=alerts,
            freeze_gc=True,
            # the last good rules on disk: a restart while the state DB is down starts with them
            on_loaded=lambda rules, dno, versions: snapshot.save(
                folder / "snapshot", rules, dno, versions
            ),
            fallback=lambda: snapshot.load(folder / "snapshot"),
        )
    except BaseException:  # no rules to start with: stop the writers' threads
        log.close()
        alerts.close()
        raise
    if watch:
        screener.watch(settings.screen_reload)
    return Service(screener, log, alerts, metrics)


def check(
    settings: Settings,
    store: Store,
    *,
    caller: str,
    called: str,
    upstream: str | None = None,
    identity: str | None = None,
    clock: Clock = SYSTEM,
) -> Decision:
    """What the rules in force say about one call (``tracehop screen check``): nothing is
    audited or counted. With ``identity`` (the INVITE's Identity header) and a policy set
    (``TRACEHOP_SCREEN_IDENTITY``), the header is verified and the policy applied after the
    rules, as the redirect server does; without a policy the server verifies nothing, and
    neither does this."""
    screener = Screener(StoreSource(store), emergency=emergency_of(settings), clock=clock)
    call = make_call(caller, called, upstream)
    decision = screener.decide(call, source="check")
    # a call the rules block is not verified; an emergency call never is (47 CFR 9.4)
    if identity is None or decision.action == "block" or decision.emergency:
        return decision
    verifying = identity_check(settings, clock=clock)
    if verifying is None:
        return decision
    try:
        outcome = verifying.check(identity, orig=call.caller, dest=call.called)
    finally:
        verifying.close()
    reason = str(outcome.result.reason)
    if outcome.action == "block":
        code, phrase, _headers = outcome.reject()
        return replace(decision, action="block", sip_code=code, rule_id=None, cause=phrase,
                       reason=f"STIR/SHAKEN {reason}: {phrase}", identity=reason)  # fmt: skip
    return replace(decision, identity=reason)


def redress_of(settings: Settings) -> str:
    """The redress contact a blocked caller is told (603+, ATIS-1000099)."""
    if settings.screen_redress:
        return settings.screen_redress
    return settings.provider if settings.provider != "self" else "your service provider"


def redirect_core(settings: Settings, service: Service, *, clock: Clock = SYSTEM) -> RedirectCore:
    """The SIP redirect server's core over a serving screener."""
    trunks = TrunkMap.load(settings.screen_trunks)
    return RedirectCore(
        service.screener,
        upstream_from=upstream_sources(settings.screen_upstream_from, trunks),
        redress=redress_of(settings),
        clock=clock,
        metrics=service.metrics,
        identity=identity_check(settings, clock=clock),
    )


def identity_check(settings: Settings, *, clock: Clock = SYSTEM) -> IdentityCheck | None:
    """The STIR/SHAKEN policy of ``TRACEHOP_SCREEN_IDENTITY`` with a verifier from the
    settings (trust anchors, certificate cache), or None when no policy is set."""
    policy = IdentityPolicy.parse(settings.screen_identity)
    if not policy.active:
        return None
    from tracehop.shaken.verify import Verifier  # only when Identity headers are verified

    return IdentityCheck(Verifier.from_settings(settings, clock=clock), policy)


def parse_address(text: str, option: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:5070`` for IPv6)."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise InputError(f"{option} {text!r}: give HOST:PORT, e.g. 127.0.0.1:5070")
    return host, int(port)


def fork_workers(settings: Settings, sock: socket.socket, count: int) -> list[int]:
    """``count`` more redirect server processes reading the same UDP socket (the kernel hands
    each datagram to one of them), each with its own screener over the same state DB. Call
    before any thread is started. Returns their process ids; stop them with SIGTERM.

    Each worker keeps its own transactions and counters: a retransmission that reaches
    another worker is decided again (the same rules give the same answer, To tag included),
    and rate limits count per worker."""
    pids: list[int] = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                _worker(settings, sock)
            except BaseException:
                code = 1
            os._exit(code)
        pids.append(pid)
    return pids


def _worker(settings: Settings, sock: socket.socket) -> None:
    from tracehop.screening.sip import SipServer

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    store = RetryingStore(settings)
    service = serving(settings, store)
    try:
        SipServer(redirect_core(settings, service), sock=sock).run()
    except KeyboardInterrupt:
        pass
    finally:
        service.close()
        store.close()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def stop_workers(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
