"""Node tokens at rest in the hub's state DB: encrypted (tracehop.hubkey), still sent, never
shown. The node is a real node service (its own token check) in this process
(``tracehop.api.inprocess.InProcessNodes``: the real node app); the store is a real SQLite file."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy import select

from tracehop.api.inprocess import InProcessNodes, node_url
from tracehop.auth import tokens
from tracehop.errors import ConfigError
from tracehop.hubkey import PREFIX, TokenBox, TokenKeyError, decrypt, encrypt
from tracehop.node.service import NodeService
from tracehop.settings import Settings, load_settings
from tracehop.store import Store, open_store
from tracehop.store.models import HubProvider
from tracehop.tracebacks.directory import import_blocks, import_directory, load_directory
from tracehop.tracebacks.hub import Hub, open_hub, trace

CALL = ("2025550143", "2125551234", "2025-03-03T16:50:00Z")


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACEHOP_HUB_KEY", raising=False)


class Net:
    """One provider's node (a real node service on an empty home: it checks the hub's token,
    then answers not_found) and a hub home with the directory files to import."""

    def __init__(self, tmp: Path) -> None:
        node = load_settings(home=tmp / "node", provider="term")
        self.node_store = open_store(node)
        self.token = tokens.issue(self.node_store, "hub")
        self.service = NodeService(node, self.node_store)
        self.hub = load_settings(home=tmp / "hub")
        self.directory = tmp / "directory.csv"
        self.directory.write_text("id,name,country\nterm,Term,US\n")
        self.nodes = tmp / "nodes.csv"
        self.nodes.write_text(f"id,node_url,token\nterm,{node_url('term')},{self.token}\n")
        self.blocks = tmp / "blocks.csv"
        self.blocks.write_text("npa_nxx,provider\n212555,term\n")

    def hub_store(self) -> Store:
        store = open_store(self.hub)
        import_blocks(store, self.blocks)
        return store

    def trace(self, store: Store, settings: Settings | None = None) -> tuple[str, int | None]:
        """Trace the call; (outcome, the node's HTTP status): not_found/200 when the node
        took the token, no_response/401 when it refused it."""
        transport = InProcessNodes.serving(self.service_map)
        with Hub(store, settings=settings or self.hub, transport=transport) as hub:
            t = trace(hub, *CALL, hop_timeout=30)
        return t.outcome or "", t.hops[0].http_status

    @property
    def service_map(self) -> dict[str, NodeService]:
        return {"term": self.service}

    def close(self) -> None:
        self.service.close()
        self.node_store.close()


@pytest.fixture
def net(tmp_path: Path) -> Net:
    n = Net(tmp_path)
    yield n
    n.close()


def stored_token(store: Store) -> str | None:
    with store.session() as s:
        return s.scalar(select(HubProvider.token).where(HubProvider.id == "term"))


def db_bytes(home: Path) -> bytes:
    """The state DB as it is on disk: the file and its write-ahead log."""
    return b"".join(p.read_bytes() for p in sorted(home.glob("state.db*")))


def test_an_imported_token_is_encrypted_on_disk_and_the_hub_traces_with_it(net: Net) -> None:
    store = net.hub_store()
    result = import_directory(store, net.directory, net.nodes, settings=net.hub)
    assert result.to_json() == {"created": 1, "updated": 0, "nodes": 1}
    assert net.token.encode() not in db_bytes(net.hub.home)
    assert stored_token(store).startswith(PREFIX)
    key = net.hub.home / "hub-secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(Fernet(key.read_text().strip()).encrypt(b"x")) > 0  # a real Fernet key
    assert net.trace(store) == ("not_found", 200)  # the node accepted the decrypted token
    assert net.token.encode() not in db_bytes(net.hub.home)  # nor did the trace store it
    # a second import without tokens keeps the stored one as it is
    before = stored_token(store)
    import_directory(store, net.directory, settings=net.hub)
    assert stored_token(store) == before
    store.close()


def test_a_wrong_or_missing_key_is_a_one_line_error(net: Net) -> None:
    store = net.hub_store()
    import_directory(store, net.directory, net.nodes, settings=net.hub)
    key = net.hub.home / "hub-secret.key"
    expected = (
        "the hub's token key does not decrypt the stored node tokens (term): "
        f"restore {key} or re-import the directory with tokens"
    )
    original = key.read_bytes()
    key.write_bytes(Fernet.generate_key())  # another key
    with pytest.raises(TokenKeyError) as err:
        Hub(store, settings=net.hub)
    assert err.value.message == expected
    key.unlink()  # no key at all
    with pytest.raises(TokenKeyError) as err:
        Hub(store, settings=net.hub)
    assert err.value.message == expected
    assert not key.exists()  # reading never makes a key
    other = load_settings(home=net.hub.home, hub_key=Fernet.generate_key().decode())
    with pytest.raises(TokenKeyError) as err:
        Hub(store, settings=other)
    assert err.value.message == (
        "the hub's token key does not decrypt the stored node tokens (term): restore the "
        "TRACEHOP_HUB_KEY they were stored with or re-import the directory with tokens"
    )
    bad = load_settings(home=net.hub.home, hub_key="not-a-key")
    with pytest.raises(TokenKeyError, match=r"^TRACEHOP_HUB_KEY: key 1 is not a Fernet key"):
        Hub(store, settings=bad)
    # listings never need the key
    assert load_directory(store)["term"].to_json()["token"] == "set"
    # restoring the key file works again
    key.write_bytes(original)
    assert net.trace(store) == ("not_found", 200)
    store.close()


def test_re_importing_the_tokens_recovers_from_a_lost_key(
    net: Net, caplog: pytest.LogCaptureFixture
) -> None:
    store = net.hub_store()
    import_directory(store, net.directory, net.nodes, settings=net.hub)
    key = net.hub.home / "hub-secret.key"
    key.unlink()
    with caplog.at_level(logging.WARNING):
        import_directory(store, net.directory, settings=net.hub)  # no tokens given
    assert "does not decrypt the stored node tokens (term)" in caplog.text
    assert not key.exists()
    with caplog.at_level(logging.WARNING):
        import_directory(store, net.directory, net.nodes, settings=net.hub)
    assert "created the hub's token key" in caplog.text and key.exists()
    assert net.trace(store) == ("not_found", 200)
    assert net.token not in caplog.text
    store.close()


def test_a_legacy_clear_token_still_works_and_the_next_import_encrypts_it(
    net: Net, caplog: pytest.LogCaptureFixture
) -> None:
    store = net.hub_store()
    import_directory(store, net.directory, settings=net.hub)
    with store.session() as s:  # as a hub from before encryption stored it
        s.get(HubProvider, "term").node_url = node_url("term")
        s.get(HubProvider, "term").token = net.token
    key = net.hub.home / "hub-secret.key"
    assert not key.exists()  # nothing encrypted yet: no key made
    with caplog.at_level(logging.WARNING):
        assert net.trace(store) == ("not_found", 200)
    assert "1 node tokens are stored in clear" in caplog.text and net.token not in caplog.text
    import_directory(store, net.directory, settings=net.hub)  # the next directory write
    assert stored_token(store).startswith(PREFIX) and key.exists()
    assert decrypt(net.hub, stored_token(store)) == net.token
    assert net.trace(store) == ("not_found", 200)
    store.close()


def test_rotating_the_key(net: Net) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with_old = load_settings(home=net.hub.home, hub_key=old)
    with_both = load_settings(home=net.hub.home, hub_key=f"{new},{old}")
    with_new = load_settings(home=net.hub.home, hub_key=new)
    store = net.hub_store()
    import_directory(store, net.directory, net.nodes, settings=with_old)
    assert net.trace(store, with_both) == ("not_found", 200)  # every key decrypts
    import_directory(store, net.directory, settings=with_both)  # moves tokens to the first
    assert net.trace(store, with_new) == ("not_found", 200)
    with pytest.raises(TokenKeyError):
        Hub(store, settings=with_old)
    assert not (net.hub.home / "hub-secret.key").exists()  # the env key is used, not a file
    store.close()


def test_callers_without_settings_use_the_store_home(net: Net, tmp_path: Path) -> None:
    """demo.py and benchmarks/hub.py pass only the store: it knows the home it was opened
    for. A store made without settings cannot say where the key is."""
    store = net.hub_store()
    import_directory(store, net.directory, net.nodes)
    assert (net.hub.home / "hub-secret.key").exists()
    with open_hub(net.hub, transport=InProcessNodes.serving(net.service_map)) as hub:
        assert trace(hub, *CALL, hop_timeout=30).outcome == "not_found"
    store.close()
    opened = open_store(load_settings(home=tmp_path / "other"))
    bare = Store(engine=opened.engine, sessions=opened.sessions)
    with pytest.raises(ConfigError, match=r"pass the hub's settings \(settings=\.\.\.\)"):
        import_directory(bare, net.directory)
    opened.close()


def test_no_output_or_log_shows_a_token(net: Net, cli, caplog: pytest.LogCaptureFixture) -> None:
    """Through the CLI: import, list (table, CSV, JSON), a trace to an unreachable node, show;
    and the one-line error for a wrong key."""
    call = ["--caller", CALL[0], "--called", CALL[1], "--at", CALL[2]]
    net.nodes.write_text(f"id,node_url,token\nterm,http://127.0.0.1:9,{net.token}\n")
    outputs = []
    with caplog.at_level(logging.DEBUG):
        code, out, err = cli("hub", "directory", "import", str(net.directory), "--nodes", str(net.nodes))  # fmt: skip
        assert code == 0, err
        outputs += [out, err]
        assert cli("hub", "blocks", "import", str(net.blocks))[0] == 0
        for fmt in ([], ["--csv"], ["--json"]):
            code, out, err = cli("hub", "directory", "list", *fmt)
            assert code == 0 and "set" in out
            outputs += [out, err]
        code, out, err = cli("hub", "trace", *call, "--hop-timeout", "0.5s", "--json")
        assert code == 0, err
        t = json.loads(out)
        assert t["outcome"] == "no_response" and "cannot reach" in t["reason"]
        outputs += [out, err]
        for fmt in ([], ["--json"]):
            code, out, err = cli("hub", "show", t["trace_id"], *fmt)
            assert code == 0
            outputs += [out, err]
    assert all(net.token not in text for text in outputs)
    assert net.token not in caplog.text
    assert net.token.encode() not in db_bytes(cli.home)
    (cli.home / "hub-secret.key").write_bytes(Fernet.generate_key())
    code, out, err = cli("hub", "trace", *call)
    assert (code, out) == (1, "")
    assert err == (
        "Error: the hub's token key does not decrypt the stored node tokens (term): "
        f"restore {cli.home / 'hub-secret.key'} or re-import the directory with tokens\n"
    )


KEY = Fernet.generate_key().decode()


@given(st.text())
def test_encrypt_decrypt_round_trip(token: str) -> None:
    settings = load_settings(home=Path("/nonexistent/tracehop-home"), hub_key=KEY)
    stored = encrypt(settings, token)
    assert stored.startswith(PREFIX) and stored.isascii()
    assert decrypt(settings, stored) == token
    assume(not token.startswith(PREFIX))
    assert decrypt(settings, token) == token  # a legacy clear value is used as is


@given(st.text(min_size=1))
def test_reencrypt_moves_a_token_to_the_first_key(token: str) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    home = Path("/nonexistent/tracehop-home")
    stored = TokenBox(load_settings(home=home, hub_key=old)).encrypt(token)
    both = TokenBox(load_settings(home=home, hub_key=f"{new}\n{old}"))
    moved = both.reencrypt(stored)
    assert moved is not None and moved != stored
    assert both.reencrypt(moved) == moved  # already under the first key: left as it is
    assert decrypt(load_settings(home=home, hub_key=new), moved) == token
    assert TokenBox(load_settings(home=home, hub_key=new)).reencrypt(stored) is None
