"""Asking one node: the hub's HTTP client side of a traceback hop.

``ask`` posts the request to the node, retries what may pass (an unreachable node, a 5xx or
a 429, with a doubling back-off), polls a node that is reviewing its answer (202), and stops
at the hop deadline: 24 h in production (47 CFR 64.1200(n)(1)). Time comes from an injected
clock (``tracehop.times``), so tests never wait for a deadline.

Nodes are other people's systems, some careless, some hostile (docs/security.md): the
deadline is the hop's whole time (connecting, sending and every read: a node that trickles
its answer a byte at a time is cut at the deadline), an answer is read up to
``max_answer_bytes`` and no further, and it must validate (``NodeAnswer``) before anything
of it is stored. An answer refused for any of these is recorded, with the reason, for that
hop.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
from pydantic import ValidationError

from tracehop.times import SYSTEM, Clock, format_span
from tracehop.tracebacks.directory import Provider
from tracehop.tracebacks.protocol import ANSWERS, NodeAnswer
from tracehop.tracebacks.traces import Hop

REQUEST_PATH = "/api/v1/tracebacks/requests"
# Between attempts at a node that cannot be reached or answers 5xx/429: doubling, capped.
FIRST_RETRY_SECONDS = 0.2
MAX_RETRY_SECONDS = 300.0
DEFAULT_MAX_ANSWER_BYTES = 1_048_576


class _Cut(Exception):
    """The answer could not be read whole: too large, or not done by the deadline."""


def _error_text(status: int, content: bytes) -> str:
    text = content[:300].decode("utf-8", "replace").strip()
    try:
        body = json.loads(content)
    except ValueError:
        return text[:200]
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])[:300]
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])[:300]
    return text[:200]


def _exchange(
    client: httpx.Client,
    request: httpx.Request,
    *,
    deadline: float,
    limit: int,
    clock: Clock,
    timeout: float,
) -> tuple[int, bytes]:
    """Send ``request`` and read the answer whole: (status, body). ``_Cut`` when it is over
    ``limit`` bytes or still arriving at the deadline; httpx errors as they come."""
    request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
    resp = client.send(request, stream=True)
    try:
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Cut(f"the node's answer is over {limit} bytes ({declared}): refused")
        chunks: list[bytes] = []
        size = 0
        for chunk in resp.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise _Cut(f"the node's answer is over {limit} bytes: refused")
            chunks.append(chunk)
            if clock.monotonic() > deadline:
                raise _Cut(
                    f"the node's answer was still arriving at the deadline "
                    f"({size} bytes read): no answer within the hop's time"
                )
        return resp.status_code, b"".join(chunks)
    finally:
        resp.close()


def ask(
    client: httpx.Client,
    provider: Provider,
    body: dict[str, Any],
    hop: Hop,
    *,
    hop_timeout: float,
    clock: Clock = SYSTEM,
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
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
        if pending:
            request = client.build_request("GET", f"{url}/{hop.request_id}", headers=headers)
        else:
            request = client.build_request("POST", url, json=body, headers=headers)
        try:
            status, content = _exchange(
                client,
                request,
                deadline=deadline,
                limit=max_answer_bytes,
                clock=clock,
                timeout=remaining,
            )
        except _Cut as exc:
            hop.reason = str(exc)
            return hop
        except httpx.TimeoutException:
            # the request was given what was left of the hop's time, and used it all
            hop.reason = silent
            return hop
        except httpx.TransportError as exc:
            reason = f"cannot reach {provider.node_url}: {exc.__class__.__name__}: {exc}"
            wait()
            continue
        hop.http_status = status
        if status == 202:
            pending = True
            reason = f"still under review at {provider.id} after {format_span(hop_timeout)}"
            wait()
            continue
        if status == 404 and pending:
            pending = False  # the node lost the request: ask again
            continue
        if status == 429 or status >= 500:
            reason = f"HTTP {status}: {_error_text(status, content)}"
            wait()
            continue
        if status in (401, 403):
            hop.reason = f"refused: HTTP {status}: {_error_text(status, content)}"
            return hop
        if status != 200:
            hop.reason = f"HTTP {status}: {_error_text(status, content)}"
            return hop
        if clock.monotonic() > deadline:
            hop.reason = f"answered after the deadline ({format_span(hop_timeout)})"
            return hop
        return read_answer(hop, content, clock.now())


def read_answer(hop: Hop, content: bytes, now: datetime) -> Hop:
    """Fill ``hop`` from a node's answer (bytes as received). Anything that is not a valid
    hop answer leaves the hop ``no_response`` with the reason; nothing unvalidated is kept."""
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        hop.reason = "the node's answer is not JSON"
        return hop
    answer = data.get("answer") if isinstance(data, dict) else None
    if not isinstance(answer, str) or answer not in ANSWERS:
        shown = answer if isinstance(answer, str | None) else type(answer).__name__
        hop.reason = f"the node's answer {str(shown)[:40]!r} is not one of the four hop answers"
        return hop
    try:
        valid = NodeAnswer.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        hop.reason = f"the node's answer does not validate: {where}: {first.get('msg')}"
        return hop
    if answer != "not_found" and not valid.upstream:
        hop.reason = f"the node answered {answer} without naming the upstream"
        return hop
    hop.answered_at = now
    hop.answer = answer
    hop.upstream = valid.upstream if answer != "not_found" else None
    hop.confidence = valid.confidence
    hop.needs_review = valid.needs_review
    hop.reason = valid.reason
    hop.raw = valid.model_dump(mode="json")
    return hop
