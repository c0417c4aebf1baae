"""Hit counts and the latest blocks, read from the decision log a serving screener writes; the
one code path that checks and stores a rule (``tracehop block add``, the rules page, the
API); a customer's review."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracehop.customers import (
    CustomerRecord,
    clear_review,
    get_review,
    import_customers,
    set_review,
)
from tracehop.errors import ConflictError, InputError, NotFoundError
from tracehop.screening.audit import hits_by_rule, recent_blocks, screening_dir
from tracehop.screening.index import make_call
from tracehop.screening.report import rules_with_hits
from tracehop.screening.service import add_checked_rule, serving
from tracehop.screening.state import record_notice
from tracehop.settings import Settings, load_settings
from tracehop.store import open_store
from tracehop.times import FakeClock


@pytest.fixture
def settings(home: Path, state_db) -> Settings:  # type: ignore[no-untyped-def]
    """A home whose state DB is SQLite, then PostgreSQL (every test here runs on both)."""
    return load_settings(home=home, database_url=state_db())


def test_hits_count_the_blocks_each_rule_made(settings: Settings) -> None:
    clock = FakeClock(datetime(2025, 3, 3, 16, 0, tzinfo=UTC))
    with open_store(settings) as store:
        trunk = add_checked_rule(settings, store, "customer", "bad-trunk", reason="finding 1",
                                 author="alice", clock=clock)  # fmt: skip
        caller = add_checked_rule(settings, store, "caller-id", "(202) 555-0143",
                                  reason="complaints", author="alice", clock=clock, sip_code=607)  # fmt: skip
        quiet = add_checked_rule(settings, store, "caller_id", "+13125550199", reason="never",
                                 author="alice", clock=clock)  # fmt: skip
        assert (caller.kind, caller.value, caller.sip_code) == ("caller_id", "+12025550143", 607)
        service = serving(settings, store, clock=clock, watch=False)
        try:
            decide = service.screener.decide
            for i in range(3):
                clock.advance(60)
                decide(make_call("+14155550100", "+13125551234", "bad-trunk", f"t{i}"))
            clock.advance(60)
            decide(make_call("2025550143", "3125551234", "good", "c1"))  # the caller ID rule
            decide(make_call("+14155550100", "+13125551234", "good", "a1"))  # allowed
            decide(make_call("+14155550100", "911", "bad-trunk", "e1"))  # emergency: allowed
        finally:
            service.close()  # writes what the log still holds
        hits = hits_by_rule(screening_dir(settings.home))
        assert hits == {
            trunk.id: (3, "2025-03-03T16:03:00+00:00"),
            caller.id: (1, "2025-03-03T16:04:00+00:00"),
        }
        recent = recent_blocks(screening_dir(settings.home), limit=2)
        assert [(e["call_id"], e["rule_id"], e["sip_code"]) for e in recent] == [
            ("c1", caller.id, 607),
            ("t2", trunk.id, 603),
        ]
        listed = {
            r["id"]: (r["hits"], r["last_hit"]) for r in rules_with_hits(store, settings.home)
        }
        assert listed == {
            trunk.id: (3, "2025-03-03T16:03:00Z"),
            caller.id: (1, "2025-03-03T16:04:00Z"),
            quiet.id: (0, None),
        }


def test_a_torn_last_line_is_skipped(settings: Settings) -> None:
    folder = screening_dir(settings.home)
    (folder / "decisions.log").write_text(
        '{"at": "2025-03-03T16:00:00+00:00", "event": "block", "rule_id": 4}\n'
        '{"at": "2025-03-03T16:01:00+00:00", "event": "alert", "rule_id": 4}\n'
        '{"at": "2025-03-03T16:02:00+00:00", "event": "blo'
    )
    assert hits_by_rule(folder) == {4: (1, "2025-03-03T16:00:00+00:00")}
    assert hits_by_rule(settings.home / "nowhere") == {}
    # the writer finishes the line and appends more: only the new bytes are read
    with (folder / "decisions.log").open("a") as fh:
        fh.write('ck", "rule_id": 4}\n{"at": "2025-03-03T16:05:00+00:00", "event": "block", '
                 '"rule_id": 5}\n')  # fmt: skip
    assert hits_by_rule(folder) == {4: (2, "2025-03-03T16:02:00+00:00"),
                                    5: (1, "2025-03-03T16:05:00+00:00")}  # fmt: skip
    assert [e["rule_id"] for e in recent_blocks(folder, limit=5)] == [5, 4, 4]
    # a log replaced by a shorter one (rotated by an operator) is counted again from its start
    (folder / "decisions.log").unlink()
    (folder / "decisions.log").write_text(
        '{"at": "2025-03-04T00:00:00+00:00", "event": "block", "rule_id": 6}\n'
    )
    assert hits_by_rule(folder) == {6: (1, "2025-03-04T00:00:00+00:00")}


def test_rules_are_refused_with_a_reason_a_person_can_act_on(settings: Settings) -> None:
    clock = FakeClock()
    with open_store(settings) as store:
        with pytest.raises(InputError, match="911 is an emergency number"):
            add_checked_rule(settings, store, "called", "911", reason="x", author="a", clock=clock)
        with pytest.raises(ConflictError, match=r"needs a notice to the\s+Commission first"):
            add_checked_rule(settings, store, "provider", "carrier-9", reason="notice of ITG",
                             author="a", clock=clock)  # fmt: skip
        record_notice(store, "carrier-9", sent_on=clock.now().date(),
                      summary="ITG notice of 2025-03-01, calls in Attachment A", author="a",
                      clock=clock)  # fmt: skip
        rule = add_checked_rule(settings, store, "provider", "carrier-9", reason="notice of ITG",
                                author="a", clock=clock)  # fmt: skip
        assert rule.notice_id is not None
        with pytest.raises(ConflictError, match=f"rule {rule.id} already applies"):
            add_checked_rule(settings, store, "provider", "carrier-9", reason="again",
                             author="a", clock=clock)  # fmt: skip


def test_a_customer_under_review(settings: Settings) -> None:
    clock = FakeClock(datetime(2025, 3, 3, 16, 0, tzinfo=UTC))
    rec = CustomerRecord("acme", "Acme Dialers", "call_center", "US", None, notes="imported")
    with open_store(settings) as store:
        import_customers(store, [rec])
        assert get_review(store, "acme") is None
        with pytest.raises(InputError, match="say why"):
            set_review(store, "acme", "  ", by="alice", clock=clock)
        with pytest.raises(NotFoundError, match="no customer 'ghost' on record"):
            set_review(store, "ghost", "why", by="alice", clock=clock)
        set_review(store, "acme", "documents asked for", by="alice", clock=clock)
        clock.advance(3600)
        again = set_review(store, "acme", "documents late", by="bob", clock=clock)
        assert again.as_dict() == {"customer": "acme", "note": "documents late",
                                   "since": "2025-03-03T16:00:00+00:00", "by": "bob"}  # fmt: skip
        import_customers(store, [rec])  # a re-import keeps the review
        assert get_review(store, "acme") == again
        clear_review(store, "acme")
        assert get_review(store, "acme") is None
