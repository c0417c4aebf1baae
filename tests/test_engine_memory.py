"""TRACEHOP_MEMORY_LIMIT: ``auto`` (the default) sizes the query engine's memory from the machine."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import settings as settings_hypothesis
from hypothesis import strategies as st

from tracehop.engine import connect
from tracehop.errors import ConfigError
from tracehop.settings import (
    Settings,
    engine_memory_limit,
    load_settings,
    physical_memory,
    spark_driver_memory,
)

GIB = 2**30


@pytest.mark.parametrize(
    ("physical", "limit"),
    [
        (24 * GIB, "2500MB"),  # a quarter would be 6 GiB: the maximum
        (8 * GIB, "2147MB"),  # a quarter
        (2 * GIB, "1000MB"),  # a quarter would be 0.5 GiB: the minimum, the old default
        (None, "1000MB"),  # the platform does not say: the minimum
    ],
)
def test_auto_is_a_quarter_of_the_machine_within_bounds(physical: int | None, limit: str) -> None:
    assert engine_memory_limit("auto", physical) == limit
    assert engine_memory_limit(" AUTO ", physical) == limit


def test_a_given_limit_is_kept() -> None:
    assert engine_memory_limit("3GB", 24 * GIB) == "3GB"
    assert engine_memory_limit("512MB", None) == "512MB"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"memory.max": "4294967296\n"}, 4 * GIB),  # cgroup v2: the container's limit
        ({"memory/memory.limit_in_bytes": "3221225472\n"}, 3 * GIB),  # cgroup v1
        ({"memory.max": "max\n"}, None),  # no limit: the machine's memory
        ({"memory.max": "2147483648", "memory/memory.limit_in_bytes": "1"}, 2 * GIB),
        ({}, None),  # no cgroup files
    ],
)
def test_a_containers_limit_caps_the_memory_auto_divides(
    tmp_path: Path, files: dict[str, str], expected: int | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    machine = physical_memory(tmp_path / "absent")
    assert machine is not None and machine > 0
    got = physical_memory(tmp_path)
    assert got == (machine if expected is None else min(machine, expected))
    # a 4 GiB container gets a quarter of 4 GiB, not a quarter of the host's memory
    if expected == 4 * GIB and machine >= 4 * GIB:
        assert engine_memory_limit("auto", got) == engine_memory_limit("auto", 4 * GIB)


def _limit(settings: Settings) -> str:
    con = connect(settings)
    try:
        return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    finally:
        con.close()


def test_the_engine_gets_the_resolved_limit(settings: Settings) -> None:
    assert settings.memory_limit == "auto"
    resolved = engine_memory_limit("auto", physical_memory())
    assert _limit(settings) == _limit(settings.replace(memory_limit=resolved))
    assert _limit(settings.replace(memory_limit="1GB")) == "953.6 MiB"


@pytest.mark.parametrize("value", ["lots", "1000", "", "GB", "-1GB", "2 elephants"])
def test_a_bad_limit_is_a_one_line_error(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(memory_limit=value)
    assert "\n" not in str(info.value)
    assert "memory_limit" in str(info.value) and "auto" in str(info.value)


def test_the_cli_says_so_in_one_line(cli) -> None:
    proc = cli.run("detect", env={"TRACEHOP_MEMORY_LIMIT": "lots"})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "Error: setting memory_limit: 'lots': give auto or a size such as 2GB, 1500MB or 50%"
    ]


@settings_hypothesis(max_examples=60, deadline=None)
@given(st.text(alphabet="0123456789.kKmMgGtTiIbB% auto", max_size=8))
def test_every_accepted_limit_is_one_duckdb_takes(value: str) -> None:
    try:
        limit = load_settings(memory_limit=value).memory_limit
    except ConfigError:
        return
    duckdb.connect(config={"memory_limit": engine_memory_limit(limit, 24 * GIB)}).close()


@pytest.mark.parametrize(
    ("physical", "heap"),
    [
        (64 * GIB, "8192m"),  # a quarter would be 16 GiB: the maximum
        (23 * GIB, "5888m"),  # a quarter
        (2 * GIB, "1024m"),  # a quarter would be 512 MiB: the minimum, Spark's own 1g
        (None, "1024m"),  # the platform does not say: the minimum
    ],
)
def test_spark_auto_heap_is_a_quarter_of_the_machine_within_bounds(
    physical: int | None, heap: str
) -> None:
    assert spark_driver_memory("auto", physical) == heap
    assert spark_driver_memory(" 6g ", physical) == "6g"


@pytest.mark.parametrize("value", ["lots", "6", "6GB", "", "g", "-1g"])
def test_a_bad_spark_heap_is_a_one_line_error(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(spark_memory=value)
    assert "\n" not in str(info.value) and "spark_memory" in str(info.value)
    assert load_settings(spark_memory="4096M").spark_memory == "4096M"


@pytest.mark.parametrize(
    ("master", "lake_bytes", "setting", "partitions"),
    [
        ("local[2]", 50 * 2**20, 0, 2),  # a small lake: one per core
        ("local[2]", 10 * 10**9, 0, 75),  # 10 GB of call files: one per 128 MiB
        ("local[*]", 0, 0, os.cpu_count() or 1),
        ("local[2]", 10 * 10**9, 16, 16),  # the setting wins
        ("spark://host:7077", 10 * 10**9, 0, None),  # a cluster: Spark's own setting
    ],
)
def test_spark_shuffle_partitions(
    master: str, lake_bytes: int, setting: int, partitions: int | None
) -> None:
    from tracehop.spark_engine import shuffle_partitions

    assert shuffle_partitions(master, lake_bytes, setting) == partitions
