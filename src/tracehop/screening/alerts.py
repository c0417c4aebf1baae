"""Delivering velocity alerts: to the state DB (``screen_alerts``) and, when
``TRACEHOP_SCREEN_WEBHOOK`` is set, as a JSON POST to the webhook. On a thread of its own: the
call path only appends. A webhook that fails is recorded on the alert (``webhook_status``)
and not retried; the alert itself stays in the state DB."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tracehop.store import Store
from tracehop.times import utc

log = logging.getLogger(__name__)


class AlertSink:
    def __init__(
        self,
        store: Store | None,
        *,
        webhook: str | None = None,
        interval: float = 0.5,
        post: Callable[[str, list[dict[str, object]]], str] | None = None,
    ) -> None:
        self.store = store
        self.webhook = webhook
        self.interval = interval
        self.post = post or _post
        self.delivered = 0
        self.failed = 0
        self._pending: list[dict[str, object]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="screen-alerts", daemon=True)
        self._thread.start()

    def __call__(self, alert: dict[str, object]) -> None:
        with self._lock:
            self._pending.append(alert)

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        status = None
        if self.webhook:
            status = self.post(self.webhook, batch)
        rows = [{**a, "webhook_status": status} for a in batch]
        if self.store is not None:
            from tracehop.screening.state import store_alerts

            try:
                store_alerts(self.store, rows)
                self.delivered += len(rows)
            except Exception as exc:  # the state DB may be down: alerts are in the audit log
                self.failed += len(rows)
                log.error("screening: %d alerts not stored: %s", len(rows), exc)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()


def _post(url: str, alerts: list[dict[str, object]]) -> str:
    import httpx

    body = [{**a, "at": utc(a["at"]).isoformat()} for a in alerts]  # type: ignore[arg-type]
    try:
        r = httpx.post(url, json={"alerts": body}, timeout=5.0)
    except httpx.HTTPError as exc:
        log.warning("screening: alert webhook %s failed: %s", url, exc)
        return f"error: {exc.__class__.__name__}"[:100]
    return f"http {r.status_code}"
