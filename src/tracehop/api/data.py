"""The JSON API over what tracehop holds (``/api/v1/...``): calls, customers, findings,
tracebacks, cases, notices, ingest, analysts' queries. Thin routes over library functions
(the dashboard's pages call the same ones); reading needs the ``read`` permission, acting
(cases, confirmations) ``act``. Paginated with ``limit``/``offset``, filtered by time with
``since``/``until`` (ISO 8601, UTC when naive).

(No ``from __future__ import annotations``: FastAPI reads the route annotations.)
"""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from tracehop.analyst import jsonable
from tracehop.api.deps import need
from tracehop.auth.roles import Principal
from tracehop.engine import Engine
from tracehop.errors import InputError, NotFoundError
from tracehop.settings import Settings
from tracehop.shared_engine import SharedEngine
from tracehop.store import Store
from tracehop.times import SYSTEM, Clock, utc

Read = Annotated[Principal, Depends(need("read"))]
Act = Annotated[Principal, Depends(need("act"))]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]
MAX_NOTICE = 20 * 1024 * 1024  # a letter with its attachment, as PDF


def _time(value: str | None, name: str) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        return utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        raise InputError(
            f"{name} {value!r} is not ISO 8601 (2025-03-03 or 2025-03-03T14:00Z)"
        ) from None


@dataclass
class _Home:
    settings: Settings
    store: Store
    clock: Clock
    shared: SharedEngine

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        with self.shared.engine() as engine:
            yield engine


def data_router(
    settings: Settings, store: Store, shared: SharedEngine, *, clock: Clock = SYSTEM
) -> APIRouter:
    """Every read and action of the API over one home."""
    api = APIRouter(prefix="/api/v1")
    home = _Home(settings, store, clock, shared)
    _lake_routes(api, home)
    _traceback_routes(api, home)
    _case_routes(api, home)
    return api


def _lake_routes(api: APIRouter, home: _Home) -> None:
    settings, store, clock = home.settings, home.store, home.clock

    @api.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "provider": settings.provider, "mode": settings.node_mode}

    @api.get("/overview")
    def overview(_who: Read) -> dict[str, Any]:
        from tracehop.cases.records import list_cases
        from tracehop.lakeviews import totals, traffic_by_day
        from tracehop.overview import customers_by_risk, latest_run, pending_tracebacks

        lake = home.shared.memo("totals", totals)
        traffic = home.shared.memo("traffic_by_day", traffic_by_day)
        return jsonable({
            "engine": home.shared.name, "lake": lake, "traffic": traffic,
            "detection": latest_run(store),
            "customers_by_risk": customers_by_risk(store, limit=10),
            "open_cases": [c for c in list_cases(store) if c["status"] != "closed"],
            "pending_tracebacks": pending_tracebacks(store, now=clock.now()),
        })  # fmt: skip

    @api.get("/calls")
    def calls(
        _who: Read,
        caller: str | None = None,
        called: str | None = None,
        upstream: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        from tracehop.lakeviews import search_calls

        with home.engine() as con:
            found = search_calls(con, caller=caller, called=called, upstream=upstream,
                                 since=_time(since, "since"), until=_time(until, "until"),
                                 limit=limit, offset=offset)  # fmt: skip
        return jsonable({**found, "limit": limit, "offset": offset, "engine": con.name})

    @api.get("/customers")
    def customers(_who: Read) -> list[dict[str, Any]]:
        from tracehop.customers import list_customers

        return jsonable([c.as_row() for c in list_customers(store)])

    @api.get("/customers/{customer_id}")
    def customer(customer_id: str, _who: Read) -> dict[str, Any]:
        return jsonable(customer_profile(store, home.shared, customer_id, settings.home))

    @api.get("/findings")
    def findings(_who: Read, limit: Limit = 50) -> dict[str, Any]:
        from tracehop.overview import customers_by_risk, latest_run

        return jsonable(
            {"run": latest_run(store), "customers": customers_by_risk(store, limit=limit)}
        )

    @api.get("/ingest")
    def ingest_status(_who: Read, limit: Limit = 100) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from tracehop.store.models import IngestManifest

        with store.session() as s:
            rows = s.scalars(
                select(IngestManifest).order_by(IngestManifest.ingested_at.desc()).limit(limit)
            )
            return jsonable([
                {"ingest_id": r.ingest_id, "source": Path(r.source_path).name, "format": r.format,
                 "rows_ingested": r.rows_ingested, "rows_rejected": r.rows_rejected,
                 "first_start": r.first_start, "last_start": r.last_start,
                 "ingested_at": r.ingested_at}
                for r in rows
            ])  # fmt: skip

    @api.get("/query")
    def query(
        _who: Read, sql: Annotated[str, Query(min_length=1, max_length=20_000)], limit: Limit = 500
    ) -> dict[str, Any]:
        from tracehop.analyst import query as run_query

        result = run_query(sql, settings, store=store, max_rows=limit)
        return jsonable({"columns": result.columns, "rows": [list(r) for r in result.rows],
                         "truncated": result.truncated})  # fmt: skip


def _traceback_routes(api: APIRouter, home: _Home) -> None:
    _settings, store, clock = home.settings, home.store, home.clock

    @api.get("/tracebacks/answers")
    def answers(
        _who: Read, status: str | None = None, limit: Limit = 100, offset: Offset = 0
    ) -> list[dict[str, Any]]:
        from tracehop.tracebacks.answers import stored_answers

        rows = [a for a in reversed(stored_answers(store)) if status in (None, a["status"])]
        return jsonable(rows[offset : offset + limit])

    @api.get("/tracebacks/pending")
    def pending(_who: Read) -> list[dict[str, Any]]:
        from tracehop.overview import pending_tracebacks

        return jsonable(pending_tracebacks(store, now=clock.now()))

    @api.post("/tracebacks/answers/{request_id}/confirm")
    def confirm(request_id: str, who: Act, upstream: str | None = None) -> dict[str, Any]:
        from tracehop.tracebacks.answers import confirm as confirm_answer

        done = confirm_answer(store, request_id, upstream=upstream or None, now=clock.now())
        return jsonable({**done, "confirmed_by": who.name})


def _case_routes(api: APIRouter, home: _Home) -> None:
    settings, store, clock = home.settings, home.store, home.clock

    @api.get("/cases")
    def cases(_who: Read) -> list[dict[str, Any]]:
        from tracehop.cases.records import list_cases

        return jsonable(list_cases(store))

    @api.get("/cases/{case_id}")
    def case(case_id: str, _who: Read) -> dict[str, Any]:
        from tracehop.cases.records import get_case

        return jsonable(get_case(store, case_id).to_json())

    @api.post("/cases/{case_id}/investigate")
    def investigate(case_id: str, who: Act) -> dict[str, Any]:
        from tracehop.cases.investigate import investigate as run

        return jsonable(run(settings, store, case_id, actor=who.name, now=clock.now()))

    @api.post("/cases/{case_id}/reports")
    def report(
        case_id: str,
        who: Act,
        kind: Annotated[str, Query(pattern="^(mitigation|report-14d|intent-to-block)$")],
        format: Annotated[str, Query(pattern="^(pdf|html)$")] = "pdf",
    ) -> FileResponse:
        from tracehop.cases.records import get_case
        from tracehop.cases.reports import write_report

        out = Path(settings.home) / "reports" / f"{case_id}-{kind}.{format}"
        write_report(settings, store, case_id, kind, out, actor=who.name, now=clock.now())
        done = [e for e in get_case(store, case_id).events if e["kind"] == "report"][-1]
        media = "application/pdf" if format == "pdf" else "text/html"
        # the file is the body: where its figures were computed is in a header
        engine = str(done["detail"].get("engine"))
        return FileResponse(out, media_type=media, filename=out.name,
                            headers={"X-Tracehop-Engine": engine})  # fmt: skip

    @api.post("/notices")
    async def notice(request: Request, who: Act) -> JSONResponse:
        """The letter as the request body (PDF or text), not a form."""
        import anyio

        from tracehop.cases.notices import parse_notice, pdf_text
        from tracehop.cases.records import open_case

        data = await request.body()
        if not data:
            raise InputError("send the letter (PDF or text) as the request body")
        text = pdf_text(data) if data[:5] == b"%PDF-" else data.decode("utf-8", "replace")
        notice_ = parse_notice(text)

        def store_it() -> tuple[Any, bool]:
            return open_case(store, notice_, text=text, now=clock.now(), actor=who.name,
                             source_name=request.headers.get("x-filename"),
                             source_sha256=hashlib.sha256(data).hexdigest())  # fmt: skip

        _opened, created = await anyio.to_thread.run_sync(store_it)
        body = {**notice_.to_json(), "created": created}
        return JSONResponse(jsonable(body), status_code=201 if created else 200)


def customer_profile(
    store: Store, shared: SharedEngine, customer_id: str, home: Path
) -> dict[str, Any]:
    """Everything the customer page shows (and ``GET /api/v1/customers/{id}`` returns). The
    lake's part (a day per row; distinct caller IDs cost 0.4 s for a customer of 1.4 M calls)
    is computed once per version of the lake."""
    from tracehop.customers import get_review, list_customers
    from tracehop.lakeviews import customer_daily
    from tracehop.overview import customer_findings, customer_mentions, customer_tracebacks
    from tracehop.screening.audit import hits_by_rule, screening_dir
    from tracehop.screening.report import rule_json
    from tracehop.screening.state import rules_on_upstream

    record = next((c for c in list_customers(store) if c.id == customer_id), None)
    daily = shared.memo(f"customer_daily:{customer_id}", lambda c: customer_daily(c, customer_id))
    if record is None and not daily:
        raise NotFoundError(f"no customer {customer_id!r}: neither on record nor in the lake")
    review = get_review(store, customer_id)
    hits = hits_by_rule(screening_dir(home))
    return {
        "engine": shared.name,  # where the lake's part (`daily`) was computed
        "customer": record.as_row() if record else {"id": customer_id},
        "on_record": record is not None,
        "daily": daily,
        "findings": customer_findings(store, customer_id),
        "tracebacks": customer_tracebacks(store, customer_id),
        **customer_mentions(store, customer_id),
        "review": review.as_dict() if review else None,
        "rules": [rule_json(r, hits) for r in rules_on_upstream(store, customer_id)],
    }
