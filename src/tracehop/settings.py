"""Typed settings, read from the environment (``TRACEHOP_`` prefix) and CLI options.

Built by the shells and passed in; nothing here does work at import time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from tracehop.errors import ConfigError

# (name, default, help): the table docs/settings.md documents and tests/test_docs.py checks.
SETTINGS_HELP: list[tuple[str, str, str]] = [
    (
        "TRACEHOP_HOME",
        "./tracehop-home",
        "Data folder: the CDR lake and the SQLite state DB. Made by the commands that write "
        "to it (ingest, customers import, notice import); commands that only read it (query, "
        "detect, case list, ...) refuse one that does not exist.",
    ),
    (
        "TRACEHOP_DATABASE_URL",
        "sqlite:///<home>/state.db",
        "SQLAlchemy URL of the state DB (e.g. postgresql+psycopg://user@host/db).",
    ),
    ("TRACEHOP_PROVIDER", "self", "Name of the provider whose CDRs this home holds."),
    (
        "TRACEHOP_PROVIDER_NAME",
        "(the provider id)",
        "The provider's legal name, as its letters to the Commission are signed.",
    ),
    ("TRACEHOP_PROVIDER_CONTACT", "(none)", "Who signs those letters (name and title)."),
    ("TRACEHOP_PROVIDER_EMAIL", "(none)", "The contact's e-mail address for those letters."),
    (
        "TRACEHOP_PROVIDER_ROLES",
        "(none)",
        "The provider's roles for its Robocall Mitigation Database filing, comma-separated: "
        "originating, intermediate, gateway, terminating.",
    ),
    ("TRACEHOP_RMD_ID", "(none)", "The provider's own Robocall Mitigation Database number."),
    (
        "TRACEHOP_TIMEZONE",
        "UTC",
        "IANA zone of naive CDR timestamps (switch local time), e.g. America/New_York.",
    ),
    (
        "TRACEHOP_MEMORY_LIMIT",
        "auto",
        "Memory the query engine may use before spilling to disk, e.g. 2GB; auto: a quarter of "
        "the machine's memory, at least 1GB and at most 2.5GB.",
    ),
    ("TRACEHOP_THREADS", "0", "Query engine threads (0 = one per core)."),
    (
        "TRACEHOP_ENGINE",
        "duckdb",
        "Query engine of the analytics (detection): duckdb (embedded) or spark (PySpark over "
        "the same lake; needs pip install 'tracehop[spark]' and Java 17).",
    ),
    (
        "TRACEHOP_SPARK_MASTER",
        "local[2]",
        "With TRACEHOP_ENGINE=spark: the Spark master, local[N] / local[*] (in this process) "
        "or a cluster URL such as spark://host:7077.",
    ),
    (
        "TRACEHOP_SPARK_MEMORY",
        "auto",
        "With TRACEHOP_ENGINE=spark: the Spark driver's heap, e.g. 6g (on local[N] the driver "
        "runs every task); auto: a quarter of the machine's memory (of a container's cgroup "
        "limit), at least 1g and at most 8g. Read when the JVM starts.",
    ),
    (
        "TRACEHOP_SPARK_PARTITIONS",
        "0",
        "With TRACEHOP_ENGINE=spark: shuffle partitions of a job; 0 = one per core on local[N], "
        "or one per 128 MB of the lake's call files when that is more (Spark's adaptive "
        "execution merges small ones), Spark's default on a cluster.",
    ),
    (
        "TRACEHOP_LAKE_URL",
        "(none: <home>/lake)",
        "Keep the lake's Parquet files on an object store: s3://bucket or s3://bucket/prefix "
        "(S3 or an S3-compatible server). Ingest writes there, DuckDB reads there; needs pip "
        "install 'tracehop[s3]'. Not with TRACEHOP_ENGINE=spark (pyspark ships no hadoop-aws).",
    ),
    (
        "TRACEHOP_LAKE_ENDPOINT",
        "(none: AWS)",
        "With TRACEHOP_LAKE_URL: the endpoint of an S3-compatible server, http(s)://host:port.",
    ),
    ("TRACEHOP_LAKE_REGION", "us-east-1", "With TRACEHOP_LAKE_URL: the bucket's region."),
    (
        "TRACEHOP_LAKE_KEY_ID",
        "(none)",
        "With TRACEHOP_LAKE_URL: the access key id; unset: the AWS SDK's usual sources (its "
        "environment variables, ~/.aws, the instance's role).",
    ),
    ("TRACEHOP_LAKE_SECRET", "(none)", "With TRACEHOP_LAKE_URL: the secret access key."),
    ("TRACEHOP_LOG_LEVEL", "WARNING", "Logging level (DEBUG, INFO, WARNING, ERROR)."),
    (
        "TRACEHOP_HUB_KEY",
        "<home>/hub-secret.key",
        "The hub's Fernet key for the node tokens it stores; unset: the key in that file "
        "(created on first use, mode 0600). Several, comma-separated, to rotate: the first "
        "encrypts.",
    ),
    (
        "TRACEHOP_BUSINESS_TIMEZONE",
        "America/New_York",
        "IANA zone of this provider's business hours: a traceback request received outside "
        "them counts from 8:00 the next business morning (47 CFR 64.1200(n)(1)).",
    ),
    ("TRACEHOP_NODE_MODE", "auto", "Node answers: auto (at once) or review (a person confirms)."),
    ("TRACEHOP_NODE_RATE", "50", "Traceback requests a second per token the node accepts."),
    (
        "TRACEHOP_NODE_DIRECTORY",
        "(none)",
        "Consortium directory CSV for the node: carriers not in it are answered "
        "provider_not_listed.",
    ),
    (
        "TRACEHOP_QUERY_TIMEOUT",
        "60",
        "Seconds an analyst's query (tracehop query, and the dashboard later) may run.",
    ),
    ("TRACEHOP_MAX_REQUEST_BYTES", "65536", "Largest request body a served app reads (413 above)."),
    (
        "TRACEHOP_MAX_ANSWER_BYTES",
        "1048576",
        "Largest node answer the hub reads; a larger one is refused and recorded for that hop.",
    ),
    (
        "TRACEHOP_HTTP_HEADER_TIMEOUT",
        "10",
        "Seconds a client has to send a request's headers (slow or silent clients are cut).",
    ),
    ("TRACEHOP_HTTP_BODY_TIMEOUT", "10", "Seconds a client has to send a request's body (408)."),
    ("TRACEHOP_HTTP_IDLE_TIMEOUT", "5", "Seconds an idle keep-alive connection is kept open."),
    ("TRACEHOP_HTTP_MAX_CONNECTIONS", "100", "Connections served at once (503 above)."),
    (
        "TRACEHOP_SESSION_KEY",
        "<home>/session-secret.key",
        "Key that signs dashboard sessions; unset: the key in that file (made on first use, "
        "mode 0600).",
    ),
    (
        "TRACEHOP_SESSION_SECURE",
        "false",
        "Mark the dashboard's session cookie Secure (true when it is served over HTTPS).",
    ),
    (
        "TRACEHOP_CRASH_AT",
        "(none)",
        "Testing only: the ingest commit step (staged, committed, moving, moved) or DNO import "
        "step (dno_half) at which the process kills itself, for the crash tests.",
    ),
    (
        "TRACEHOP_HUB_TOKEN",
        "(none)",
        "Bearer token `tracehop hub serve` requires on its API (unset: no token asked).",
    ),
    (
        "TRACEHOP_SHAKEN_TRUST",
        "(none)",
        "STIR/SHAKEN trust anchors: a PEM file or a folder of them (the STI-PA's list of "
        "approved CAs, kept current by you); `shaken verify --trust` overrides it.",
    ),
    (
        "TRACEHOP_SHAKEN_CERTS",
        "(none)",
        "STIR/SHAKEN certificates read from local folders instead of fetched: PREFIX=FOLDER "
        "pairs, comma-separated; an x5u URL under PREFIX is the file of that name in FOLDER "
        "(a simulated world: https://certs.sim.example/=WORLD/shaken/certs). Other URLs are "
        "fetched over HTTP(S) as usual.",
    ),
    (
        "TRACEHOP_SHAKEN_MAX_AGE",
        "60",
        "Seconds a PASSporT's iat may be older than the call (403 Stale Date above; ATIS-1000074).",
    ),
    (
        "TRACEHOP_SHAKEN_FETCH_TIMEOUT",
        "2",
        "Seconds a certificate fetch (x5u) may take in all before it counts as failed (436).",
    ),
    (
        "TRACEHOP_SHAKEN_CACHE_TTL",
        "3600",
        "Seconds a fetched certificate is kept when its server sends no cache headers "
        "(headers are honoured within 60 s-24 h; never past the certificate's notAfter).",
    ),
    (
        "TRACEHOP_SHAKEN_NEGATIVE_TTL",
        "30",
        "Seconds a failed certificate fetch is remembered, so a dead URL does not cost every "
        "call a timeout.",
    ),
    (
        "TRACEHOP_SCREEN_PSAPS",
        "(none)",
        "Screening: more emergency numbers never blocked, comma-separated (PSAP lines, as "
        "E.164 or 10 digits), besides 911 and 933 which always are.",
    ),
    (
        "TRACEHOP_SCREEN_REDRESS",
        "(none)",
        "Screening: the redress contact a blocked caller is given in the Reason header "
        "(a URL or number; 603+, ATIS-1000099). Unset: the provider's name.",
    ),
    (
        "TRACEHOP_SCREEN_UPSTREAM_FROM",
        "tgrp,header:X-Upstream,source",
        "Screening: where the SIP redirect server reads the upstream customer, in order: tgrp "
        "(RFC 4904 trunk group in the Contact URI), header:NAME, source (the sender's address "
        "mapped by TRACEHOP_SCREEN_TRUNKS).",
    ),
    (
        "TRACEHOP_SCREEN_IDENTITY",
        "(none)",
        "Screening: what the SIP redirect server does with each STIR/SHAKEN verification "
        "result of an INVITE's Identity header: REASON=ACTION pairs (ACTION continue, "
        "annotate or block; REASON valid, missing, stale, bad_signature, ..., failed or "
        "default), e.g. failed=annotate,bad_signature=block. Unset: not verified. A missing "
        "header only blocks when named (missing=block); emergency calls never.",
    ),
    (
        "TRACEHOP_SCREEN_TRUNKS",
        "(none)",
        "Screening: CSV file address,customer mapping a SIP sender's IP address (or CIDR "
        "block) to the customer it carries.",
    ),
    (
        "TRACEHOP_SCREEN_RELOAD",
        "2",
        "Screening: seconds between checks for changed rules or DNO lists; a change is "
        "loaded and swapped in at once, and the last good rules stay if the state DB fails.",
    ),
    (
        "TRACEHOP_SCREEN_BLOCK_CDRS",
        "false",
        "Screening: also write each block as a CDR row (generic layout) under "
        "<home>/screening/cdrs/, to ingest so detection and reports see blocked calls.",
    ),
    (
        "TRACEHOP_SCREEN_WEBHOOK",
        "(none)",
        "Screening: URL that velocity alerts are POSTed to as JSON (besides the state DB).",
    ),
    (
        "TRACEHOP_SCREEN_TOKEN",
        "(none)",
        "Bearer token the screening HTTP API (POST /api/v1/screen/decide, /metrics) requires; "
        "`tracehop screen serve --http` refuses to start without one.",
    ),
]

NODE_MODES = ("auto", "review")
ENGINES = ("duckdb", "spark")


ENV_PREFIX = "TRACEHOP_"


class Settings(BaseModel):
    """Everything a tracehop process needs to know about where and how it runs.

    :func:`load_settings` reads the environment (``TRACEHOP_`` + the field's name, any case)
    as pydantic-settings' ``BaseSettings`` did: each value is the variable's text, validated
    like an option's. Not pydantic-settings itself: importing it cost 0.15 CPU-s of every
    command (docs/performance.md, "Issue 11, fourth pass")."""

    # as BaseSettings: defaults validated too (a bad default zone is an error, not a surprise)
    model_config = ConfigDict(extra="ignore", validate_default=True)

    home: Path = Field(default=Path("tracehop-home"))
    database_url: str | None = None
    provider: str = "self"
    provider_name: str | None = None
    provider_contact: str | None = None
    provider_email: str | None = None
    provider_roles: str | None = None
    rmd_id: str | None = None
    timezone: str = "UTC"
    memory_limit: str = "auto"  # engine_memory_limit
    threads: int = 0
    engine: str = "duckdb"
    spark_master: str = "local[2]"
    spark_memory: str = "auto"  # spark_driver_memory
    spark_partitions: int = Field(default=0, ge=0)  # spark_engine.shuffle_partitions
    lake_url: str | None = None  # tracehop.cdr.objectstore
    lake_endpoint: str | None = None
    lake_region: str = "us-east-1"
    lake_key_id: str | None = None
    lake_secret: SecretStr | None = None
    log_level: str = "WARNING"
    hub_key: SecretStr | None = None  # tracehop.hubkey; SecretStr: never in a repr or a log
    business_timezone: str = "America/New_York"
    node_mode: str = "auto"
    node_rate: float = Field(default=50.0, gt=0)
    node_directory: Path | None = None
    hub_token: SecretStr | None = None
    session_key: SecretStr | None = None  # tracehop.auth.sessions
    session_secure: bool = False
    query_timeout: float = Field(default=60.0, gt=0)
    crash_at: str | None = None  # testing only (cdr.lake.crash_point)
    max_request_bytes: int = Field(default=65536, ge=1024)
    max_answer_bytes: int = Field(default=1_048_576, ge=1024)
    http_header_timeout: float = Field(default=10.0, gt=0)
    http_body_timeout: float = Field(default=10.0, gt=0)
    http_idle_timeout: int = Field(default=5, ge=1)
    http_max_connections: int = Field(default=100, ge=1)
    shaken_trust: Path | None = None
    shaken_certs: str = ""
    shaken_max_age: float = Field(default=60.0, gt=0)
    shaken_fetch_timeout: float = Field(default=2.0, gt=0, le=60)
    shaken_cache_ttl: float = Field(default=3600.0, ge=0)
    shaken_negative_ttl: float = Field(default=30.0, ge=0)
    screen_psaps: str = ""
    screen_redress: str | None = None
    screen_upstream_from: str = "tgrp,header:X-Upstream,source"
    screen_identity: str = ""
    screen_trunks: Path | None = None
    screen_reload: float = Field(default=2.0, gt=0)
    screen_block_cdrs: bool = False
    screen_webhook: str | None = None
    screen_token: SecretStr | None = None

    @field_validator("home")
    @classmethod
    def _home(cls, value: Path) -> Path:
        # a file given as the home (a CDR file in --home's place) fails at the first mkdir
        if value.exists() and not value.is_dir():
            raise ValueError(
                f"{str(value)!r} is a file, not a folder: give the data folder "
                "(created when it does not exist)"
            )
        return value

    @field_validator("node_mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value not in NODE_MODES:
            raise ValueError(f"must be auto or review, not {value!r}")
        return value

    @field_validator("engine")
    @classmethod
    def _engine(cls, value: str) -> str:
        # never a silent fall back to DuckDB (issue 17): a name we do not know is an error
        if value not in ENGINES:
            raise ValueError(f"unknown engine {value!r}: use duckdb or spark")
        return value

    @field_validator("memory_limit", "spark_memory")
    @classmethod
    def _memory(cls, value: str, info: ValidationInfo) -> str:
        # checked when the settings are read, not as a DuckDB parser error at the first
        # query or a JVM that does not start
        pattern, example = _MEMORY_SIZES[info.field_name or ""]
        if value.strip().lower() != "auto" and not pattern.fullmatch(value.strip()):
            raise ValueError(f"{value!r}: give auto or {example}")
        return value.strip()

    @field_validator("lake_url")
    @classmethod
    def _lake_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from tracehop.cdr.objectstore import parse_lake_url

        parse_lake_url(value)  # a ValueError says what to give
        return value.strip()

    @field_validator("timezone", "business_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_zone(value, error=ValueError)

    @field_validator("shaken_certs")
    @classmethod
    def _cert_folders(cls, value: str) -> str:
        cert_folders(value)  # refuses a malformed value when the settings are read
        return value

    def replace(self, **changes: object) -> Settings:
        """A copy with ``changes`` (None values ignored), validated like the environment."""
        data = {**self.model_dump(), **{k: v for k, v in changes.items() if v is not None}}
        try:
            return type(self)(**data)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            raise ConfigError(_first_error(exc)) from exc

    def require_home(self) -> None:
        """For commands that read a home: a ConfigError when the home does not exist (a typo
        in --home, TRACEHOP_HOME not set) rather than an empty home made on the spot and
        empty answers from it. A home whose lake and state DB are elsewhere (an object store,
        PostgreSQL) need not exist."""
        if not self.home.exists() and self.lake_url is None and self.database_url is None:
            raise ConfigError(
                f"no tracehop home at {self.home}: give --home or TRACEHOP_HOME the folder you "
                "ingested into (tracehop ingest, customers import and notice import make one)"
            )

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'state.db').resolve()}"


def cert_folders(value: str) -> dict[str, Path]:
    """``TRACEHOP_SHAKEN_CERTS`` as {x5u prefix: folder}."""
    out: dict[str, Path] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        prefix, sep, folder = item.strip().partition("=")
        if not sep or not prefix.startswith(("https://", "http://")) or not folder:
            raise ValueError(
                f"{item.strip()!r}: give PREFIX=FOLDER pairs, e.g. "
                "https://certs.sim.example/=world/shaken/certs"
            )
        out[prefix] = Path(folder)
    return out


# A size DuckDB's memory_limit takes: a number and a unit, or a share of the machine.
_SIZE = re.compile(r"\d+(\.\d+)?\s*([KMGT]iB|[KMGT]B?|B|%)", re.IGNORECASE)
# TRACEHOP_MEMORY_LIMIT=auto: a quarter of the machine's memory, within these bounds. Below
# 2.5 GB a 10 M-row detection spills its working tables to disk (48.6 CPU s at the old 1 GB,
# 36.8 at 2.5 GB, the same at 3 GB); at most 2.5 GB so that what Python holds besides stays
# under the 4 GB a 100 M-row run may take (issue 17; docs/performance.md, "Issue 14, fourth
# pass"), and the rest of a small machine stays for the other services (docs/deploy.md).
MEMORY_AUTO_MIN = 1_000_000_000  # bytes; DuckDB's "1GB" is 10^9 bytes
MEMORY_AUTO_MAX = 2_500_000_000


def engine_memory_limit(value: str, physical_bytes: int | None) -> str:
    """The query engine's memory limit for the setting ``value``: as given, or for ``auto``
    a quarter of ``physical_bytes`` (the machine's memory; None when unknown: the minimum)
    between :data:`MEMORY_AUTO_MIN` and :data:`MEMORY_AUTO_MAX`, in whole MB (10^6 bytes)."""
    if value.strip().lower() != "auto":
        return value
    share = (physical_bytes or 0) // 4
    return f"{min(max(share, MEMORY_AUTO_MIN), MEMORY_AUTO_MAX) // 10**6}MB"


# A JVM heap size (-Xmx, spark.driver.memory): a number and k, m, g or t.
_JVM_SIZE = re.compile(r"\d+[kmgt]", re.IGNORECASE)
# the size each memory setting takes, and what the error says to give
_MEMORY_SIZES = {
    "memory_limit": (_SIZE, "a size such as 2GB, 1500MB or 50%"),
    "spark_memory": (_JVM_SIZE, "a JVM size such as 6g or 4096m"),
}
# TRACEHOP_SPARK_MEMORY=auto: a quarter of the machine's memory, within these bounds (MiB).
# Spark's own default, 1g, ends a 100 M-row detection on local[2] with a memory error in its
# sorter after ten minutes (docs/performance.md, "Engines").
SPARK_MEMORY_AUTO_MIN = 1024
SPARK_MEMORY_AUTO_MAX = 8192


def spark_driver_memory(value: str, physical_bytes: int | None) -> str:
    """``spark.driver.memory`` for the setting ``value``: as given, or for ``auto`` a
    quarter of ``physical_bytes`` (None when unknown: the minimum) between
    :data:`SPARK_MEMORY_AUTO_MIN` and :data:`SPARK_MEMORY_AUTO_MAX`, in whole MiB."""
    if value.strip().lower() != "auto":
        return value.strip()
    share = (physical_bytes or 0) // 4 // 2**20
    return f"{min(max(share, SPARK_MEMORY_AUTO_MIN), SPARK_MEMORY_AUTO_MAX)}m"


CGROUP_ROOT = Path("/sys/fs/cgroup")
# where a container's memory limit is written: cgroup v2, then v1
CGROUP_LIMIT_FILES = ("memory.max", "memory/memory.limit_in_bytes")


def physical_memory(cgroup_root: Path = CGROUP_ROOT) -> int | None:
    """The memory this process may use, in bytes: the machine's, or the container's limit
    where a cgroup sets a smaller one (a container sees the host's memory in ``sysconf``; a
    quarter of the host's could be more than the container may take). None where the
    platform says neither."""
    try:
        machine: int | None = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        machine = None
    for name in CGROUP_LIMIT_FILES:
        try:
            text = (cgroup_root / name).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) > 0:  # "max" (v2) or a huge number (v1): no limit
            limit = int(text)
            return limit if machine is None else min(machine, limit)
    return machine


def ensure_home(home: Path) -> Path:
    """Create a home folder owner-only (0700): it holds call records, which are customer
    proprietary network information (47 U.S.C. 222), and the node's keys and tokens. An
    existing folder keeps the mode its owner gave it (docs/security.md)."""
    home = Path(home)
    if not home.exists():
        home.parent.mkdir(parents=True, exist_ok=True)
        home.mkdir(mode=0o700, exist_ok=True)
        home.chmod(0o700)  # mkdir's mode is masked by the umask
    return home


def check_zone(name: str, *, error: type[Exception] = ConfigError) -> str:
    """``name`` if it is an IANA time zone; ``error`` saying what to give otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise error(
            f"unknown time zone {name!r}: use an IANA name such as America/New_York"
        ) from None
    return name


def settings_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The settings ``environ`` gives: ``TRACEHOP_THREADS=4`` -> ``{"threads": "4"}`` (names
    in any case, as pydantic-settings read them; other variables ignored)."""
    names = {(ENV_PREFIX + name).lower(): name for name in Settings.model_fields}
    out: dict[str, str] = {}
    for key, value in environ.items():
        name = names.get(key.lower())
        if name is not None:
            out[name] = value
    return out


def load_settings(*, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from the environment (``environ``, the process's by default), with
    explicit overrides (CLI options) on top."""
    clean = settings_from_env(os.environ if environ is None else environ)
    clean.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**clean)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise ConfigError(_first_error(exc)) from exc


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        msg = str(first.get("msg", exc)).removeprefix("Value error, ")
        return f"setting {where}: {msg}" if where else msg
    return str(exc)
