"""The deployment recipe (deploy/, docs/deploy.md) kept true to the code.

Docker's compose plugin is not on every machine (nor on CI's), so the compose file is checked
here in Python, at the level of its schema and of what it says about tracehop: services,
dependencies, volumes, secrets, ports, every tracehop command (parsed by the real CLI) and every
TRACEHOP_ variable (a real setting). Where ``docker compose`` works, ``docker compose config``
checks the file as well.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from typer.testing import CliRunner

from tracehop.settings import SETTINGS_HELP

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
SYSTEMD = DEPLOY / "systemd"
ENV_EXAMPLE = DEPLOY / ".env.example"
SETTINGS = {name for name, _, _ in SETTINGS_HELP}

PORT = r"\d{1,5}(?:-\d{1,5})?"
PORT_SPEC = re.compile(
    rf"^(?:(?P<ip>[0-9.]+|\[[0-9a-fA-F:]+\]):)?(?:(?P<host>{PORT}):)?"
    rf"(?P<container>{PORT})(?:/(?P<proto>tcp|udp|sctp))?$"
)
VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


# --- reading the recipe ---------------------------------------------------------------------


def env_file(path: Path) -> dict[str, str]:
    """NAME=value lines of an env file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"{path.name}: not NAME=value: {line!r}"
            values[name.strip()] = value.strip()
    return values


def interpolate(value: Any, env: dict[str, str], required: set[str]) -> Any:
    """Compose's variable substitution (``${X}``, ``${X:-default}``, ``${X:?error}``, ``$$``)
    over a parsed value, with ``env`` as the environment; names that must be set are added to
    ``required``."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, required) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, required) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op") or "", m.group("arg") or ""
        if op.endswith("?"):
            required.add(name)
        got = env.get(name)
        if op.endswith("-") and (got is None or (op == ":-" and got == "")):
            return arg
        return got or ""

    return VARIABLE.sub(one, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE.read_text())
    required: set[str] = set()
    spec = interpolate(raw, env_file(ENV_EXAMPLE), required)
    missing = required - set(env_file(ENV_EXAMPLE))
    assert not missing, f"compose.yaml requires {missing}: give them a value in .env.example"
    return spec


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def option(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} not in {argv}"
    return argv[argv.index(name) + 1]


def tracehop_services(compose: dict[str, Any]) -> dict[str, list[str]]:
    return {
        name: command(s)[1:]
        for name, s in services(compose).items()
        if command(s)[:1] == ["tracehop"]
    }


def check_cli(args: list[str]) -> None:
    """``tracehop ARGS`` is a real command with options it accepts: the command path is
    walked in the CLI's own Click tree, ``--help`` runs through the CLI runner, and the rest of
    the arguments are parsed (not run) by the command itself."""
    from tracehop.cli import _register, app

    _register()
    # Typer carries its own copy of Click: its classes are known by what they have
    cmd: Any = typer.main.get_command(app)
    path: list[str] = []
    rest = list(args)
    while hasattr(cmd, "get_command"):  # a group
        assert rest and not rest[0].startswith("-"), f"tracehop {' '.join(args)}: no command"
        name = rest.pop(0)
        sub = cmd.get_command(typer.Context(cmd), name)
        assert sub is not None, f"tracehop {' '.join([*path, name])}: no such command"
        cmd, path = sub, [*path, name]
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    try:
        cmd.make_context(" ".join(["tracehop", *path]), rest)
    except Exception as exc:  # Click's UsageError / BadParameter
        if not hasattr(exc, "format_message"):
            raise
        pytest.fail(f"tracehop {' '.join(args)}: {exc.format_message()}")


def check_settings(names: set[str], where: str) -> None:
    unknown = names - SETTINGS
    assert not unknown, f"{where}: not tracehop settings (docs/settings.md): {sorted(unknown)}"


# --- compose ----------------------------------------------------------------------------------


def test_every_service_has_an_image_or_a_build_that_exists(compose: dict[str, Any]) -> None:
    assert {"postgres", "tracehop", "screen", "kamailio", "spark-master", "spark-worker"} <= set(
        services(compose)
    )
    for name, service in services(compose).items():
        assert "image" in service or "build" in service, name
        build = service.get("build")
        if build:
            context = DEPLOY / (build if isinstance(build, str) else build.get("context", "."))
            assert context.is_dir(), f"{name}: build context {context}"
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile")
            assert (context / (dockerfile or "Dockerfile")).is_file(), f"{name}: {dockerfile}"


def test_dependencies_name_services(compose: dict[str, Any]) -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services(compose).items():
        depends = service.get("depends_on") or []
        for other in depends:
            assert other in services(compose) and other != name, f"{name} depends on {other}"
            if isinstance(depends, dict):
                condition = depends[other].get("condition", "service_started")
                assert condition in conditions, f"{name}: {condition}"
                if condition == "service_healthy":
                    assert "healthcheck" in services(compose)[other], f"{other}: no healthcheck"


def test_volumes_and_secrets_are_declared(compose: dict[str, Any]) -> None:
    volumes = set(compose.get("volumes") or {})
    secrets = compose.get("secrets") or {}
    used_volumes: set[str] = set()
    for name, service in services(compose).items():
        for volume in service.get("volumes") or []:
            if isinstance(volume, dict):
                source = volume.get("source", "") if volume.get("type") == "volume" else ""
            else:
                source, sep, target = volume.partition(":")
                assert sep and target.split(":")[0].startswith("/"), f"{name}: {volume}"
                if source.startswith((".", "/", "~")):
                    source = ""  # a bind mount
            if source:
                assert source in volumes, f"{name}: volume {source} is not declared"
                used_volumes.add(source)
        for secret in service.get("secrets") or []:
            source = secret if isinstance(secret, str) else secret["source"]
            assert source in secrets, f"{name}: secret {source} is not declared"
    assert used_volumes == volumes, f"declared and unused: {volumes - used_volumes}"
    # secrets are files outside the repository's history: deploy/secrets/ is git-ignored
    assert "/deploy/secrets/" in (REPO / ".gitignore").read_text().splitlines()
    assert "/deploy/.env" in (REPO / ".gitignore").read_text().splitlines()
    for name, secret in secrets.items():
        path = (DEPLOY / secret["file"]).resolve()
        assert path.parent == DEPLOY / "secrets", f"secret {name}: {secret['file']}"


def test_port_mappings_are_well_formed(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        for port in service.get("ports") or []:
            m = PORT_SPEC.match(str(port))
            assert m, f"{name}: port {port!r}"
            for part in ("host", "container"):
                for number in (m.group(part) or "1").split("-"):
                    assert 1 <= int(number) <= 65535, f"{name}: port {port!r}"
    ports = {str(p) for s in services(compose).values() for p in s.get("ports") or []}
    assert "5070:5070/udp" in ports and "5060:5060/udp" in ports  # SIP is UDP


def test_tracehop_commands_are_real(compose: dict[str, Any]) -> None:
    found = tracehop_services(compose)
    assert {"tracehop", "screen", "detect"} <= set(found)
    for args in found.values():
        check_cli(args)
    assert found["tracehop"][:1] == ["serve"]
    assert found["screen"][:2] == ["screen", "serve"]


def test_healthchecks_ask_the_ports_the_commands_listen_on(compose: dict[str, Any]) -> None:
    given = tracehop_services(compose)
    listens = {
        "tracehop": option(given["tracehop"], "--port"),
        "screen": option(given["screen"], "--http").rpartition(":")[2],
    }
    for name, port in listens.items():
        test = " ".join(services(compose)[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/api/v1/health" in test, name
    assert "pg_isready" in services(compose)["postgres"]["healthcheck"]["test"]


def test_every_tracehop_variable_is_a_setting(compose: dict[str, Any]) -> None:
    names: set[str] = set()
    for service in services(compose).values():
        names |= {n for n in environment(service) if n.startswith("TRACEHOP_")}
        for secret in service.get("secrets") or []:
            source = secret if isinstance(secret, str) else secret.get("target", secret["source"])
            names |= {source} if source.startswith("TRACEHOP_") else set()
    names |= {n for n in env_file(ENV_EXAMPLE) if n.startswith("TRACEHOP_")}
    check_settings(names, "compose.yaml and .env.example")
    # anywhere in the text too: comments and commented-out examples
    for path in (COMPOSE, ENV_EXAMPLE, DEPLOY / "Dockerfile", DEPLOY / "entrypoint.sh"):
        check_settings(set(re.findall(r"TRACEHOP_[A-Z0-9_]+", path.read_text())), path.name)


def test_services_find_each_other(compose: dict[str, Any]) -> None:
    spec = services(compose)
    # the state DB: PostgreSQL's service, user and database; the password from the secret
    postgres = environment(spec["postgres"])
    for name in tracehop_services(compose):
        url = urlsplit(environment(spec[name])["TRACEHOP_DATABASE_URL"])
        assert url.scheme == "postgresql+psycopg" and url.hostname == "postgres"
        assert url.username == postgres["POSTGRES_USER"] and url.password is None
        assert url.path == f"/{postgres['POSTGRES_DB']}"
        assert "PGPASSWORD" in spec[name]["secrets"], name
        assert environment(spec[name])["TRACEHOP_HOME"] == "/var/lib/tracehop"
    assert postgres["POSTGRES_PASSWORD_FILE"] == "/run/secrets/PGPASSWORD"
    assert "TRACEHOP_SCREEN_TOKEN" in spec["screen"]["secrets"]  # --http needs it
    # Kamailio asks the screening service, on the port it listens on
    kamailio = command(spec["kamailio"])
    defines = dict(kamailio[i + 1].partition("=")[::2] for i, a in enumerate(kamailio) if a == "-A")
    screen = urlsplit(defines["SCREEN"].strip('"').replace("sip:", "sip://", 1))
    assert screen.hostname == "screen"
    sip = option(tracehop_services(compose)["screen"], "--sip")
    assert screen.port == int(sip.rpartition(":")[2])
    config = option(kamailio, "-f")
    dockerfile = (DEPLOY / "kamailio" / "Dockerfile").read_text()
    assert f"COPY kamailio.cfg {config}" in dockerfile
    # Spark: the master's name and port; the worker sees the lake where the driver does
    master = urlsplit(environment(spec["tracehop"])["TRACEHOP_SPARK_MASTER"])
    assert master.scheme == "spark" and master.hostname == "spark-master"
    assert str(master.port) == option(command(spec["spark-master"]), "--port")
    assert master.geturl() in command(spec["spark-worker"])
    assert "home:/var/lib/tracehop:ro" in spec["spark-worker"]["volumes"]


def test_spark_images_match_the_pinned_pyspark(compose: dict[str, Any]) -> None:
    pins = dict(
        line.split("==") for line in (REPO / "constraints.txt").read_text().split() if "==" in line
    )
    pyspark = pins["pyspark"].split(".")[:2]
    for name in ("spark-master", "spark-worker"):
        image, _, tag = services(compose)[name]["image"].partition(":")
        assert image == "apache/spark" and tag.split(".")[:2] == pyspark, (name, tag, pyspark)


def test_docker_compose_config_where_docker_has_compose() -> None:
    """`docker compose config` as well, when this machine has the plugin (the checks above
    are the test; this one adds Docker's own reading of the file)."""
    docker = shutil.which("docker")
    if docker is None:
        return
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        return
    env = {**os.environ, **env_file(ENV_EXAMPLE)}
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "--env-file", str(ENV_EXAMPLE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    # the secret files and .env are the operator's: compose may only complain about those
    assert result.returncode == 0 or "secrets" in result.stderr or ".env" in result.stderr, (
        result.stderr
    )


# --- systemd ----------------------------------------------------------------------------------


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(), source=str(path))
    return parser


def test_systemd_units_parse_and_are_hardened() -> None:
    units = {p.name: unit(p) for p in sorted(SYSTEMD.glob("tracehop-*"))}
    assert set(units) == {
        "tracehop-serve.service",
        "tracehop-screen.service",
        "tracehop-detect-watch.service",
        "tracehop-case-due.service",
        "tracehop-case-due.timer",
    }
    home = env_file(SYSTEMD / "tracehop.env.example")["TRACEHOP_HOME"]
    for name, parsed in units.items():
        assert parsed.has_section("Unit") and parsed["Unit"].get("Description"), name
        if name.endswith(".timer"):
            assert parsed.has_section("Timer") and parsed.has_section("Install"), name
            assert (SYSTEMD / name.replace(".timer", ".service")).is_file(), name
            assert parsed["Install"]["WantedBy"] == "timers.target"
            continue
        service = parsed["Service"]
        timed = (SYSTEMD / name.replace(".service", ".timer")).is_file()
        # a timer's service is started by the timer; the others are enabled themselves
        assert parsed.has_section("Install") != timed, name
        assert service["EnvironmentFile"] == "/etc/tracehop/tracehop.env", name
        assert service["User"] == "tracehop", name
        assert service["NoNewPrivileges"] == "yes", name
        assert service["ProtectSystem"] == "strict", name
        assert service["PrivateTmp"] == "yes", name
        assert home in service["ReadWritePaths"].split(), name
        if timed:
            assert service["Type"] == "oneshot", name
        else:
            assert service["Restart"] == "on-failure", name


def test_systemd_commands_and_variables_are_real() -> None:
    commands = {}
    for path in sorted(SYSTEMD.glob("tracehop-*.service")):
        argv = shlex.split(unit(path)["Service"]["ExecStart"])
        assert argv[0].startswith("/") and argv[0].endswith("/tracehop"), path.name
        check_cli(argv[1:])
        commands[path.name] = argv[1:3]
    assert commands["tracehop-detect-watch.service"] == ["detect", "--watch"]
    assert commands["tracehop-case-due.service"] == ["case", "due"]
    assert commands["tracehop-screen.service"] == ["screen", "serve"]
    assert commands["tracehop-serve.service"][0] == "serve"
    for path in SYSTEMD.iterdir():
        check_settings(set(re.findall(r"TRACEHOP_[A-Z0-9_]+", path.read_text())), path.name)
    assert "TRACEHOP_SCREEN_TOKEN" in env_file(SYSTEMD / "tracehop.env.example")


def test_check_cli_refuses_what_the_cli_does_not_have() -> None:
    """The checks above can fail: a command, an option or a value the CLI refuses."""
    for wrong in (
        ["serv"],
        ["screen", "serve", "--port", "5070"],
        ["detect", "--watch", "--min-calls", "many"],
    ):
        with pytest.raises((AssertionError, pytest.fail.Exception)):
            check_cli(wrong)
    with pytest.raises(AssertionError):
        check_settings({"TRACEHOP_NO_SUCH_SETTING"}, "here")


def test_docs_walk_through_every_service_and_unit(compose: dict[str, Any]) -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    assert "(docs/deploy.md)" in (REPO / "README.md").read_text()
    for name in services(compose):
        assert f"`{name}`" in text, name
    for path in SYSTEMD.glob("tracehop-*"):
        assert path.stem in text, path.name
