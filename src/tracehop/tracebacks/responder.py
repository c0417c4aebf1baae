"""The provider's traceback responder: "who sent us this call?", answered from the CDR lake.

Given a request (caller, called, a timestamp or only a date), it finds the candidate calls in
this home's ``calls`` view, ranks them, and answers with one of the four hop answers of
DOMAIN.md, from the customer record of the best candidate's ``upstream``:

- a ``carrier`` customer: ``received_from`` (``provider_not_listed`` when a directory of known
  providers is given and the carrier is not in it);
- an ``end_user``, ``enterprise`` or ``call_center`` customer: ``origin``;
- no matching call: ``not_found``.

Every request and its answer are stored in the state DB with the 24-hour due time of
47 CFR 64.1200(n)(1) (``deadlines.py``). See docs/traceback.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tracehop.analyst import jsonable, open_analytics
from tracehop.cdr.called_index import Snapshot, TwinReader
from tracehop.cdr.lake import lake_of
from tracehop.customers import CustomerRecord, list_customers
from tracehop.engine import Engine
from tracehop.numbers import to_e164
from tracehop.settings import Settings
from tracehop.store import Store, open_store
from tracehop.tracebacks import lookups
from tracehop.tracebacks.answers import record_answers, record_requests
from tracehop.tracebacks.protocol import HopAnswer, TracebackRequest
from tracehop.tracebacks.requests import digits

log = logging.getLogger(__name__)

# Tolerance around a reported timestamp: switch clocks drift (seconds) and reports give the
# minute; calls of one traced path start within seconds of each other at every hop.
DEFAULT_WINDOW = timedelta(minutes=5)
# A call this close to the reported time (a reported minute, plus clock skew) is an exact hit.
EXACT_SECONDS = 65.0
# Date-only requests: the reporter's date D is a local day somewhere in the US. The union of
# D in UTC and D in every US zone from Atlantic/Eastern (UTC-4) to Hawaii (UTC-10) runs from
# D 00:00 UTC to D+1 10:00 UTC. (Guam and the Northern Marianas, UTC+10, are not covered.)
DATE_END_AFTER = timedelta(hours=34)
DATE_SLACK = timedelta(minutes=5)  # switch clock skew at either end of the day
# Below this confidence a person confirms the answer before it goes out.
REVIEW_BELOW = 0.8
DATE_ONLY_CONFIDENCE = 0.9
MAX_MATCHES = 20
ORIGIN_KINDS = ("end_user", "enterprise", "call_center")


# --- finding and ranking candidates ------------------------------------------------------


@dataclass
class Candidate:
    row: dict[str, Any]
    seconds_off: float | None  # distance from the reported time (None for date-only)
    in_day: bool = True  # date-only: inside the UTC day of the date


def search_span(request: TracebackRequest) -> tuple[datetime, datetime]:
    """The time span searched: ``at`` +- window, or the reporter's day (see DATE_END_AFTER)."""
    if isinstance(request.at, datetime):
        window = request.window if request.window is not None else DEFAULT_WINDOW
        # A reported minute covers the 60 s after it.
        at = request.at.astimezone(UTC)  # the lake's day partitions are UTC days
        return at - window, at + window + timedelta(seconds=60)
    start = datetime.combine(request.at, datetime.min.time(), tzinfo=UTC)
    return start - DATE_SLACK, start + DATE_END_AFTER + DATE_SLACK


class Responder:
    """Answers requests against one home's lake; open once, answer many. The engine is the
    one the setting ``engine`` names (DuckDB or Spark: ``analyst.open_analytics``), and every
    answer says which (``HopAnswer.engine``). ``use_index=False`` reads every day from the
    calls, not through the index by called number (the benchmark's comparison)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        known_providers: Iterable[str] | None = None,
        use_index: bool = True,
    ) -> None:
        self.settings = settings
        self.store = store
        self.known = set(known_providers) if known_providers is not None else None
        self.customers: dict[str, CustomerRecord] = {c.id: c for c in list_customers(store)}
        self.use_index = use_index
        self._engine: Engine | None = None
        self._indexed: frozenset[date] = frozenset()
        self._snap: Snapshot | None = None
        self._twins: TwinReader | None = None  # single lookups on a local lake, DuckDB
        self._covered: dict[tuple[date, date], bool] = {}

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            engine = open_analytics(self.settings, self.store)
            try:
                if self.use_index:
                    lake = lake_of(self.settings)
                    snap = lookups.use_index(engine, lake)
                    self._indexed, self._snap = snap.indexed, snap
                    if engine.name == "duckdb" and lake.remote is None and snap.twins:
                        self._twins = TwinReader()
                    if snap.missing:
                        log.info(
                            "%d of %d days of the lake have no index by called number: "
                            "they are read from the calls (tracehop lake reindex)",
                            snap.missing,
                            len(snap.days),
                        )
            except BaseException:
                engine.close()
                raise
            self._engine = engine
        return self._engine

    def close(self) -> None:
        if self._twins is not None:
            self._twins.close()
            self._twins = None
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def candidates(self, request: TracebackRequest) -> list[Candidate]:
        lo, hi = search_span(request)
        engine = self.engine
        caller = (to_e164(request.caller), digits(request.caller))
        called = (to_e164(request.called), digits(request.called))
        rows = None
        if self._twins is not None and self._snap is not None and called[0]:
            rows = lookups.calls_matching_twins(
                self._twins, self._snap, lo=lo, hi=hi, caller=caller, called=called[0]
            )
        if rows is None:
            rows = lookups.calls_matching(
                engine, lo=lo, hi=hi, caller=caller, called=called, indexed=self._indexed
            )
        return rank([_candidate(request, r) for r in rows])

    def candidates_many(self, requests: Sequence[TracebackRequest]) -> dict[str, list[Candidate]]:
        """Candidates for many requests in one join (a batch scans the lake once, not once per
        request). Requests whose numbers have no E.164 form are not included: ask
        :meth:`candidates` for those."""
        batch = []
        for req in requests:
            caller, called = to_e164(req.caller), to_e164(req.called)
            if caller and called:
                lo, hi = search_span(req)
                batch.append((req.request_id, caller, called, lo, hi))
        by_id = {req.request_id: req for req in requests}
        out: dict[str, list[Candidate]] = {r[0]: [] for r in batch}
        engine = self.engine
        for rid, row in lookups.calls_matching_many(engine, batch, indexed=self._indexed):
            out[rid].append(_candidate(by_id[rid], row))
        return {rid: rank(c) for rid, c in out.items()}

    def answer_many(self, requests: Sequence[TracebackRequest]) -> list[HopAnswer]:
        """Answer a batch: one join for the candidates, then each answer as :meth:`answer`."""
        found = self.candidates_many(requests)
        return [
            self._from_candidates(req, found[req.request_id])
            if req.request_id in found
            else self.answer(req)
            for req in requests
        ]

    def covered(self, request: TracebackRequest) -> bool:
        """Whether the lake holds any call for the days searched (a not_found is only
        meaningful when it does)."""
        lo, hi = search_span(request)
        key = (lo.date(), hi.date())
        if key not in self._covered:
            self._covered[key] = lookups.calls_on_days(self.engine, *key) > 0
        return self._covered[key]

    def answer(self, request: TracebackRequest) -> HopAnswer:
        return self._from_candidates(request, self.candidates(request))

    def _from_candidates(self, request: TracebackRequest, found: list[Candidate]) -> HopAnswer:
        answer = self._answer_from(request, found)
        answer.engine = self.engine.name  # where it ran (issue 17)
        return answer

    def _answer_from(self, request: TracebackRequest, found: list[Candidate]) -> HopAnswer:
        if not found:
            if self.covered(request):
                return HopAnswer(
                    request_id=request.request_id,
                    answer="not_found",
                    confidence=1.0,
                    reason="no call from this caller to this called number in the time searched",
                )
            return HopAnswer(
                request_id=request.request_id,
                answer="not_found",
                confidence=0.3,
                needs_review=True,
                reason="the lake holds no calls at all for the days searched: "
                "ingest the CDRs of that time before answering",
            )
        return self._decide(request, found)

    def _decide(self, request: TracebackRequest, found: list[Candidate]) -> HopAnswer:
        best = found[0]
        upstream = best.row["upstream"]
        # One weight per distinct upstream, from its best candidate.
        weights: dict[str, float] = {}
        for c in found:
            weights.setdefault(c.row["upstream"], _closeness(request, c))
        share = weights[upstream] / sum(weights.values())
        confidence = _closeness(request, best) * share
        reasons: list[str] = []
        if len(weights) > 1:
            others = ", ".join(sorted(str(u) for u in weights if u != upstream))
            reasons.append(f"other upstreams also match: {others}")
        answer, customer, why, sure = self._classify(upstream)
        if why:
            reasons.append(why)
        if not sure:
            confidence = min(confidence, 0.5)
        needs_review = len(weights) > 1 or confidence < REVIEW_BELOW
        return HopAnswer(
            request_id=request.request_id,
            answer=answer,
            upstream=upstream,
            customer=customer,
            confidence=round(max(0.0, min(1.0, confidence)), 3),
            needs_review=needs_review,
            matches=[_match_json(c) for c in found[:MAX_MATCHES]],
            reason="; ".join(reasons),
        )

    def _classify(self, upstream: str) -> tuple[str, dict[str, Any] | None, str, bool]:
        """(answer, customer record, reason, sure) from the upstream's customer record."""
        rec = self.customers.get(upstream)
        customer = _customer_json(rec) if rec else None
        if rec is None:
            if self.known is not None and upstream in self.known:
                return "received_from", None, "", True
            # A trunk without a customer record: our side of it, but a person must say whose.
            return "origin", None, f"upstream {upstream!r} has no customer record", False
        if rec.kind == "carrier":
            if self.known is not None and upstream not in self.known:
                # DOMAIN.md answer 2: a provider the consortium does not know.
                return "provider_not_listed", customer, "", True
            return "received_from", customer, "", True
        if rec.kind in ORIGIN_KINDS:
            return "origin", customer, "", True
        return "origin", customer, f"customer kind {rec.kind!r} is unknown", False


def _candidate(request: TracebackRequest, row: dict[str, Any]) -> Candidate:
    start: datetime = row["start"]
    if isinstance(request.at, datetime):
        return Candidate(row, abs((start - request.at).total_seconds()))
    return Candidate(row, None, start.astimezone(UTC).date() == request.at)


def rank(found: list[Candidate]) -> list[Candidate]:
    """Closest to the reported time first; for a date, calls inside the UTC day first, then
    answered calls (what a person reports), then by start. The call id and then the upstream
    break ties, so that the order, and the answer, never depend on the order the engine
    returned the rows in (one call id seen from several upstreams: a lake holding more than
    one provider's CDRs; DuckDB and Spark differed there, docs/performance.md, "Engines")."""
    if found and found[0].seconds_off is None:
        return sorted(
            found,
            key=lambda c: (
                not c.in_day,
                c.row["disposition"] != "answered",
                c.row["start"],
                str(c.row["call_id"]),
                str(c.row["upstream"]),
            ),
        )
    return sorted(
        found, key=lambda c: (c.seconds_off, str(c.row["call_id"]), str(c.row["upstream"]))
    )


def _closeness(request: TracebackRequest, c: Candidate) -> float:
    """1.0 for a call within the reported minute (plus skew), falling to 0.5 at the window's
    edge; date-only requests cannot be closer than DATE_ONLY_CONFIDENCE."""
    if c.seconds_off is None:
        return DATE_ONLY_CONFIDENCE if c.in_day else DATE_ONLY_CONFIDENCE - 0.1
    if c.seconds_off <= EXACT_SECONDS:
        return 1.0
    window = (request.window or DEFAULT_WINDOW).total_seconds() + 60
    extra = (c.seconds_off - EXACT_SECONDS) / max(window - EXACT_SECONDS, 1.0)
    return max(0.5, 1.0 - 0.5 * min(extra, 1.0))


def _match_json(c: Candidate) -> dict[str, Any]:
    out = {k: jsonable(v) for k, v in c.row.items()}
    if c.seconds_off is not None:
        out["seconds_off"] = round(c.seconds_off, 1)
    return out


def _customer_json(rec: CustomerRecord) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in rec.as_row().items()}


# --- the library entry points ----------------------------------------------------------------


def answer_batch(
    settings: Settings,
    requests: Sequence[TracebackRequest],
    *,
    store: Store | None = None,
    known_providers: Iterable[str] | None = None,
    received_at: datetime | None = None,
    business_zone: str | None = None,
    use_index: bool = True,
) -> list[HopAnswer]:
    """Answer many requests with one engine; store every request and answer.
    ``use_index`` as for :class:`Responder`."""
    received_at = (received_at or datetime.now(UTC)).astimezone(UTC)
    own = store is None
    store = store or open_store(settings)
    try:
        times = record_requests(
            store,
            requests,
            received_at=received_at,
            business_zone=business_zone or settings.business_timezone,
        )
        responder = Responder(settings, store, known_providers=known_providers, use_index=use_index)
        try:
            answers = responder.answer_many(requests)
        finally:
            responder.close()
        for ans in answers:
            ans.received_at, ans.due_at = times[ans.request_id]
        record_answers(store, answers)
    finally:
        if own:
            store.close()
    log.info("answered %d traceback requests", len(answers))
    return answers


def lookup(
    settings: Settings,
    request: TracebackRequest,
    *,
    store: Store | None = None,
    known_providers: Iterable[str] | None = None,
    received_at: datetime | None = None,
    business_zone: str | None = None,
) -> HopAnswer:
    """Answer one request (and store it)."""
    return answer_batch(
        settings,
        [request],
        store=store,
        known_providers=known_providers,
        received_at=received_at,
        business_zone=business_zone,
    )[0]
