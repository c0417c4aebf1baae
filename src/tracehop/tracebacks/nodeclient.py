"""Asking one node: the hub's HTTP client side of a traceback hop.

``ask`` posts the request to the node, retries what may pass (an unreachable node, a 5xx or
a 429, with a doubling back-off), polls a node that is reviewing its answer (202), and stops
at the hop deadline: 24 h in production (47 CFR 64.1200(n)(1)). Time comes from an injected
clock (``tracehop.times``), so tests never wait for a deadline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tracehop.times import SYSTEM, Clock, format_span
from tracehop.tracebacks.directory import Provider
from tracehop.tracebacks.protocol import ANSWERS
from tracehop.tracebacks.traces import Hop

REQUEST_PATH = "/api/v1/tracebacks/requests"
# Between attempts at a node that cannot be reached or answers 5xx/429: doubling, capped.
FIRST_RETRY_SECONDS = 0.2
MAX_RETRY_SECONDS = 300.0


def _error_text(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200].strip()
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])[:300]
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])[:300]
    return resp.text[:200].strip()


def ask(
    client: httpx.Client,
    provider: Provider,
    body: dict[str, Any],
    hop: Hop,
    *,
    hop_timeout: float,
    clock: Clock = SYSTEM,
) -> Hop:
    """Ask one node; fill ``hop`` with its answer, or ``no_response`` and why.

    An unreachable node, a 5xx or a 429 is asked again (backing off) until the deadline; a
    401/403 (the hub's token refused) or another 4xx ends the hop at once: waiting would not
    change it. A node in review-first mode answers 202 (a person confirms first): the hub
    polls ``GET .../requests/{request_id}`` until the answer or the deadline. An answer that
    arrives after the deadline counts as no response.
    """
    assert provider.node_url
    url = provider.node_url + REQUEST_PATH
    headers = {"Authorization": f"Bearer {provider.token}"} if provider.token else {}
    deadline = clock.monotonic() + hop_timeout
    delay = FIRST_RETRY_SECONDS
    pending = False  # the node took the request and a person is reviewing the answer
    silent = f"no answer within {format_span(hop_timeout)}"
    reason = silent

    def wait() -> None:
        nonlocal delay
        clock.sleep(max(0.0, min(delay, deadline - clock.monotonic())))
        delay = min(delay * 2, MAX_RETRY_SECONDS)

    while True:
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            hop.reason = reason
            return hop
        hop.attempts += 1
        try:
            timeout = httpx.Timeout(remaining)
            if pending:
                resp = client.get(f"{url}/{hop.request_id}", headers=headers, timeout=timeout)
            else:
                resp = client.post(url, json=body, headers=headers, timeout=timeout)
        except httpx.TimeoutException:
            # the request was given what was left of the hop's time, and used it all
            hop.reason = silent
            return hop
        except httpx.TransportError as exc:
            reason = f"cannot reach {provider.node_url}: {exc.__class__.__name__}: {exc}"
            wait()
            continue
        hop.http_status = resp.status_code
        if resp.status_code == 202:
            pending = True
            reason = f"still under review at {provider.id} after {format_span(hop_timeout)}"
            wait()
            continue
        if resp.status_code == 404 and pending:
            pending = False  # the node lost the request: ask again
            continue
        if resp.status_code == 429 or resp.status_code >= 500:
            reason = f"HTTP {resp.status_code}: {_error_text(resp)}"
            wait()
            continue
        if resp.status_code in (401, 403):
            hop.reason = f"refused: HTTP {resp.status_code}: {_error_text(resp)}"
            return hop
        if resp.status_code != 200:
            hop.reason = f"HTTP {resp.status_code}: {_error_text(resp)}"
            return hop
        if clock.monotonic() > deadline:
            hop.reason = f"answered after the deadline ({format_span(hop_timeout)})"
            return hop
        return _read_answer(hop, resp, clock.now())


def _read_answer(hop: Hop, resp: httpx.Response, now: datetime) -> Hop:
    try:
        data = resp.json()
    except ValueError:
        hop.reason = "the node's answer is not JSON"
        return hop
    answer = data.get("answer") if isinstance(data, dict) else None
    if answer not in ANSWERS:
        hop.reason = f"the node's answer {answer!r} is not one of the four hop answers"
        hop.raw = data if isinstance(data, dict) else None
        return hop
    upstream = data.get("upstream")
    if answer != "not_found" and not (isinstance(upstream, str) and upstream):
        hop.reason = f"the node answered {answer} without naming the upstream"
        hop.raw = data
        return hop
    hop.answered_at = now
    hop.answer = answer
    hop.upstream = upstream if answer != "not_found" else None
    conf = data.get("confidence")
    hop.confidence = float(conf) if isinstance(conf, int | float) else None
    hop.needs_review = bool(data.get("needs_review"))
    hop.reason = str(data.get("reason") or "")
    hop.raw = data
    return hop
