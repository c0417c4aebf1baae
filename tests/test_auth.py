"""Users, tokens and roles (on SQLite and on PostgreSQL): a token's role decides what it may
call; tokens issued before roles still work (moved into the state DB as hub tokens);
passwords are Argon2id hashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tracehop.api.node import create_node_app, node_service
from tracehop.auth import tokens
from tracehop.auth.roles import PERMISSIONS, ROLES
from tracehop.auth.users import add_user, list_users, login, principal, remove_user
from tracehop.errors import InputError, UnauthorizedError
from tracehop.settings import load_settings
from tracehop.store import open_store
from tracehop.store.models import UserRow

ASK = {"request_id": "r-1", "caller": "2025550143", "called": "2125551234", "at": "2021-02-07"}


def test_only_hub_analyst_and_admin_tokens_may_send_traceback_requests(
    tmp_path: Path,
    state_db,  # type: ignore[no-untyped-def]
) -> None:
    settings = load_settings(home=tmp_path / "node", provider="telco-x", database_url=state_db())
    with open_store(settings) as store:
        issued = {role: tokens.issue(store, f"who-{role}", role) for role in ROLES}
    with TestClient(create_node_app(node_service(settings))) as c:
        for role, token in issued.items():
            resp = c.post("/api/v1/tracebacks/requests", json={**ASK, "request_id": role},
                          headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            want = 200 if "traceback" in PERMISSIONS[role] else 403
            assert resp.status_code == want, (role, resp.text)
            if want == 403:
                assert resp.json()["error"].startswith(f"the token of who-{role} (role {role})")


def test_tokens_from_before_roles_are_moved_and_keep_working(
    tmp_path: Path,
    state_db,  # type: ignore[no-untyped-def]
) -> None:
    home = tmp_path / "node"
    secret = "th_an-old-token-issued-before-roles"
    home.mkdir(mode=0o700)
    (home / "api-tokens.json").write_text(json.dumps({"tokens": [
        {"name": "hub", "sha256": hashlib.sha256(secret.encode()).hexdigest(),
         "created_at": "2026-11-28T10:00:00+00:00", "revoked": False},
        {"name": "old-hub", "sha256": "0" * 64, "created_at": "2026-11-01T10:00:00+00:00",
         "revoked": True},
    ]}))  # fmt: skip
    settings = load_settings(home=home, provider="telco-x", database_url=state_db())
    with TestClient(create_node_app(node_service(settings))) as c:
        resp = c.post("/api/v1/tracebacks/requests", json=ASK,
                      headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
    assert resp.status_code == 200
    assert not (home / "api-tokens.json").exists() and (home / "api-tokens.json.migrated").exists()
    with open_store(settings) as store:
        listed = {t["name"]: (t["role"], t["revoked"]) for t in tokens.list_tokens(store)}
        assert listed == {"hub": ("hub", False), "old-hub": ("hub", True)}
        assert tokens.migrate_file_tokens(store, home) == 0  # done once


def test_a_revoked_name_reissued_is_another_token(
    tmp_path: Path,
    state_db,  # type: ignore[no-untyped-def]
) -> None:
    with open_store(load_settings(home=tmp_path / "h", database_url=state_db())) as store:
        first = tokens.issue(store, "hub")
        second = tokens.issue(store, "hub")  # the first is revoked: one active per name
        a, b = tokens.verify(store, first), tokens.verify(store, second)
        assert a is None and b is not None and b.role == "hub" and b.id.startswith("tk-")
        assert tokens.revoke(store, "hub") == 1 and tokens.verify(store, second) is None
        with pytest.raises(InputError, match="role must be one of"):
            tokens.issue(store, "x", "root")


def test_users_log_in_with_argon2_hashed_passwords(
    tmp_path: Path,
    state_db,  # type: ignore[no-untyped-def]
) -> None:
    with open_store(load_settings(home=tmp_path / "h", database_url=state_db())) as store:
        add_user(store, "alice", "analyst", "correct horse battery")
        with store.session() as s:
            stored = s.get(UserRow, "alice")
            assert stored is not None and stored.password_hash.startswith("$argon2id$")
        who = login(store, "alice", "correct horse battery")
        assert (who.name, who.role, who.kind, who.can("act"), who.can("admin")) == (
            "alice", "analyst", "user", True, False)  # fmt: skip
        for name, password in (("alice", "wrong password!!"), ("bob", "correct horse battery")):
            with pytest.raises(UnauthorizedError, match=r"^wrong user name or password$"):
                login(store, name, password)
        with pytest.raises(InputError, match="at least 12 characters"):
            add_user(store, "bob", "viewer", "short")
        with pytest.raises(InputError, match="role for machines"):
            add_user(store, "bob", "hub", "long enough password")
        assert [u["name"] for u in list_users(store)] == ["alice"]
        remove_user(store, "alice")
        assert principal(store, "alice") is None


def test_the_cli_issues_tokens_with_roles(cli) -> None:  # type: ignore[no-untyped-def]
    out = cli.json("tokens", "issue", "sbc-1", "--role", "screen", "--json")
    assert out["role"] == "screen" and out["token"].startswith("th_")
    listed = cli.json("tokens", "list", "--json")
    assert [(t["name"], t["role"]) for t in listed] == [("sbc-1", "screen")]
    code, _out, err = cli("tokens", "issue", "x", "--role", "god")
    assert code == 1 and "role must be one of admin, analyst, viewer, hub, screen" in err
