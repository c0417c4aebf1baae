"""Detection delay: every campaign of a small simulated world is flagged at its entry provider,
after a finite number of attempts and minutes of traffic (docs/detection.md); the command
``tracehop evaluate delay``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tracehop.detection.delay import CampaignDelay, table, world_delays
from tracehop.simulate import simulate

if TYPE_CHECKING:
    from conftest import Cli


@pytest.fixture(scope="module")
def delays(tmp_path_factory: pytest.TempPathFactory) -> list[CampaignDelay]:
    out = tmp_path_factory.mktemp("delay")
    simulate(out / "world", seed=7, days=1, scale=0.05, scenario="default")
    return world_delays(out / "world", out / "homes", step=timedelta(minutes=15))


def test_every_campaign_is_flagged_with_a_finite_delay(delays: list[CampaignDelay]) -> None:
    assert {d.campaign for d in delays} == {
        "gov_imposter",
        "tech_support",
        "bank_imposter",
        "one_ring",
        "tdos",
        "health_insurance",
        "auto_warranty",
    }
    for d in delays:
        assert d.flagged_after_minutes is not None, d
        assert 0 < d.flagged_after_minutes <= 24 * 60 + 15
        assert d.flagged_after_attempts is not None
        assert 1 <= d.flagged_after_attempts <= d.campaign_calls
        # the rules need at least 5-100 bad calls: a campaign is never flagged on its first
        assert d.customer_attempts is not None and d.customer_attempts >= 5
        assert d.categories and d.score is not None and d.score >= 0.5
    assert "| tdos |" in table(delays)


def test_delay_command_prints_json(tmp_path: Path, cli: Cli) -> None:
    world = tmp_path / "w"
    simulate(world, seed=3, days=1, scale=0.02, scenario="quiet")
    homes = tmp_path / "h"
    out = cli.json("evaluate", "delay", str(world), "--homes", str(homes), "--json")
    assert out == []  # no campaigns in the quiet world
    assert not homes.exists()  # no campaign: no entry provider's home built
    code, text, err = cli("evaluate", "delay", str(world))
    assert code == 0, err
    assert text.startswith("| campaign | entry | entry provider | campaign calls |")
    assert len(text.splitlines()) == 2  # the header and its rule, no row
