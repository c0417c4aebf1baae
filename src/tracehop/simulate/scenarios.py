"""Scenario knobs: the size and shape of a simulated world, and the campaigns it carries.

A scenario is plain data (frozen dataclasses), so that ``docs/simulator.md`` can list every
knob and a test can check that the table and the code agree. The campaign kinds are the ones
in the Commission's notice of 17 March 2021 (the notice in ``fixtures/`` of the shared design folder): government (Social
Security / IRS) imposters, tech-support and bank imposters, one-ring scams, telephone denial
of service, health-insurance and auto-warranty robocalls.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tracehop.errors import InputError

# Caller-ID strategies (how a call's caller ID is chosen). Legal traffic uses "own" (the
# customer's numbers) or "subscriber" (a residential line's own number).
CLI_STRATEGIES: tuple[str, ...] = (
    "own",
    "subscriber",
    "rotation",
    "random",
    "neighbour",
    "invalid",
    "toll_free",
    "intl_premium",
)
# How called numbers are chosen: random subscribers, a few target lines, or sequential dialling.
CALLED_STRATEGIES: tuple[str, ...] = ("random", "targets", "sequential")
# Where a campaign enters the network (who the originating customer is, at which provider).
ENTRIES: tuple[str, ...] = (
    "us_direct",  # a bad-actor customer of a US originating provider
    "us_reseller",  # behind an unlisted wholesale carrier, mixed into its legal traffic
    "foreign",  # a customer of a foreign originating provider; enters via a gateway
    "gateway_reseller",  # an unlisted foreign reseller that hands traffic to a US gateway
)
# How a campaign's calls are signed (STIR/SHAKEN; simulate/shaken.py): like everyone's
# (``valid``), with another provider's key than the x5u certificate's (``wrong_key``: the
# verifier finds a bad signature), with a PASSporT minted 5 minutes before the call
# (``stale``: a replayed token), or not at all (``none``: no Identity header, no attestation).
SIGNINGS: tuple[str, ...] = ("valid", "wrong_key", "stale", "none")
# Hour-of-day profiles (UTC hours; US business hours are about 13-22 UTC).
PROFILES: tuple[str, ...] = ("business", "residential", "reminders", "evening", "burst")


@dataclass(frozen=True)
class CampaignSpec:
    """One illegal campaign kind with its caller-ID strategy, volume and call shape."""

    kind: str
    description: str
    cli: str  # one of CLI_STRATEGIES
    called: str = "random"  # one of CALLED_STRATEGIES
    entry: str = "foreign"  # one of ENTRIES
    calls_per_day: float = 4000.0  # at --scale 1
    profile: str = "business"
    answer_rate: float = 0.25
    busy_rate: float = 0.05
    cancel_rate: float = 0.10
    failed_rate: float = 0.03
    duration_median: float = 40.0  # answered seconds (log-normal)
    duration_sigma: float = 0.8
    # Share of answered calls hung up on (or silent) within 1-9 s; the others last
    # duration_median (log-normal). Robocalls answered are mostly short and silent (docs).
    hangup_share: float = 0.5
    ring_min: float = 3.0
    ring_max: float = 18.0
    pool_size: int = 200  # caller IDs in the pool (rotation, toll_free, intl_premium)
    targets: int = 3  # called lines for called="targets"
    active_share: float = 1.0  # share of days the campaign runs (the first day always)
    cnam: str = ""  # caller name shown by switches that log it
    signing: str = "valid"  # one of SIGNINGS
    complaint: tuple[str, ...] = ()  # what consumers say about it


CAMPAIGNS: dict[str, CampaignSpec] = {
    c.kind: c
    for c in (
        CampaignSpec(
            kind="gov_imposter",
            description="Fraudulent Social Security Administration robocall",
            cli="rotation",
            entry="foreign",
            calls_per_day=9000,
            answer_rate=0.22,
            duration_median=55,
            pool_size=300,
            cnam="SSA",
            complaint=(
                "Recorded voice said my Social Security number was suspended",
                "Caller claimed to be from the SSA and asked me to press 1",
                "IRS impersonator threatening arrest",
            ),
        ),
        CampaignSpec(
            kind="tech_support",
            description="Fraudulent Apple/Amazon tech-support robocall",
            cli="toll_free",
            entry="gateway_reseller",
            calls_per_day=6000,
            answer_rate=0.2,
            duration_median=75,
            hangup_share=0.4,
            pool_size=40,
            cnam="Apple Support",
            complaint=(
                "Message said my iCloud account was breached, call back support",
                "Amazon order cancellation robocall asking for card details",
            ),
        ),
        CampaignSpec(
            kind="bank_imposter",
            description="Fraudulent bank fraud-alert robocall",
            cli="neighbour",
            entry="us_reseller",
            calls_per_day=6000,
            answer_rate=0.3,
            duration_median=35,
            signing="wrong_key",  # the reseller's own forged Identity, passed on unchanged
            complaint=(
                "Robocall about suspicious charges on my Bank of America card",
                "Visa-Mastercard security department scam",
            ),
        ),
        CampaignSpec(
            kind="one_ring",
            description="One-ring (wangiri) scam from international premium-rate numbers",
            cli="intl_premium",
            entry="foreign",
            calls_per_day=5000,
            profile="evening",
            answer_rate=0.0,
            busy_rate=0.02,
            cancel_rate=0.95,
            failed_rate=0.01,
            ring_min=1.0,
            ring_max=4.0,
            hangup_share=0.0,
            pool_size=120,
            complaint=(
                "Missed call from an international number, rang once",
                "One ring then hung up, foreign number",
            ),
        ),
        CampaignSpec(
            kind="tdos",
            description="Attempted telephone denial of service against a hospital",
            cli="random",
            called="targets",
            entry="us_direct",
            calls_per_day=4000,
            profile="burst",
            answer_rate=0.7,
            busy_rate=0.2,
            cancel_rate=0.02,
            duration_median=4,
            duration_sigma=0.5,
            hangup_share=0.0,
            ring_min=0.5,
            ring_max=3.0,
            targets=3,
            signing="none",
            complaint=("Hospital switchboard flooded with silent calls",),
        ),
        CampaignSpec(
            kind="health_insurance",
            description="Health-insurance advisor robocall",
            cli="invalid",
            entry="us_direct",
            calls_per_day=5000,
            answer_rate=0.28,
            duration_median=30,
            cnam="Health Advisor",
            complaint=("Robocall offering cheap health insurance, press 1",),
        ),
        CampaignSpec(
            kind="auto_warranty",
            description="Auto-warranty (vehicle service contract) robocall",
            cli="neighbour",
            called="sequential",
            entry="us_reseller",
            calls_per_day=5000,
            answer_rate=0.26,
            duration_median=25,
            signing="stale",  # PASSporTs minted once and replayed minutes later
            complaint=("Your car's extended warranty is about to expire",),
        ),
    )
}


@dataclass(frozen=True)
class Scenario:
    """Every knob of a simulated world (docs/simulator.md has the table)."""

    name: str = "default"
    description: str = "All campaign kinds of the notice, among legal traffic of every kind."
    start: str = "2025-03-03"  # first day (a Monday), UTC
    us_originating: int = 7
    access: int = 6  # terminating providers (they also originate their subscribers' calls)
    foreign: int = 5
    gateways: int = 3
    intermediates: int = 7
    foreign_in_consortium: int = 2  # foreign providers that answer tracebacks
    non_responsive: int = 1  # US intermediates that never answer (Attachment A "No Response")
    lax_signers: int = 1  # US originating providers that sign A for every direct customer
    reseller_gateways: int = 0  # gateways with foreign reseller customers (0: all)
    # Legal calls per day at --scale 1, by kind of caller.
    residential_per_day: float = 120_000
    enterprise_per_day: float = 45_000
    call_center_per_day: float = 40_000
    informational_per_day: float = 30_000
    wholesale_per_day: float = 25_000
    foreign_legal_per_day: float = 10_000
    campaigns: tuple[CampaignSpec, ...] = field(default_factory=lambda: tuple(CAMPAIGNS.values()))
    campaign_volume: float = 1.0  # multiplies every campaign's calls_per_day
    consumer_complaint_rate: float = 0.005  # per answered (or one-ring) illegal call
    honeypot_share: float = 0.00125  # share of subscriber lines that are honeypots
    legal_complaint_rate: float = 0.0002  # per answered informational robocall
    misreport_rate: float = 0.05  # consumer complaints with a mistyped caller ID
    max_skew_seconds: float = 1.0  # per-provider switch clock offset, at most this
    max_transit: int = 5  # transit hops (gateways, intermediates): path is 3..max_transit+2
    blocks_per_access: int = 24  # NPA-NXX blocks of subscriber lines per access provider
    chunk_calls: int = 100_000  # calls generated at once (bounds memory at any scale)

    def check(self) -> None:
        if self.us_originating < 2 or self.access < 2 or self.intermediates < 2:
            raise InputError("a world needs at least 2 originating, access and intermediate")
        if self.gateways < 1 or self.foreign < 1:
            raise InputError("a world needs at least one gateway and one foreign provider")
        if not 0 <= self.reseller_gateways <= self.gateways:
            raise InputError("reseller_gateways must be 0..gateways")
        if not 1 <= self.max_transit <= 5:
            raise InputError("max_transit must be 1..5 (paths of 3 to 7 providers)")
        for c in self.campaigns:
            if c.cli not in CLI_STRATEGIES or c.called not in CALLED_STRATEGIES:
                raise InputError(f"campaign {c.kind}: unknown caller or called strategy")
            if c.entry not in ENTRIES or c.profile not in PROFILES:
                raise InputError(f"campaign {c.kind}: unknown entry or profile")
            if c.signing not in SIGNINGS:
                raise InputError(f"campaign {c.kind}: signing must be one of {SIGNINGS}")


SCENARIOS: dict[str, Scenario] = {
    "default": Scenario(),
    "quiet": Scenario(
        name="quiet",
        description="Legal traffic only: what false positives look like.",
        campaigns=(),
    ),
    "notice": Scenario(
        name="notice",
        description=(
            "Like the 2021 notice: imposter campaigns through unlisted foreign resellers "
            "into one US gateway, plus a TDoS; more complaints."
        ),
        gateways=2,
        reseller_gateways=1,
        campaigns=(
            replace(CAMPAIGNS["gov_imposter"], entry="gateway_reseller"),
            CAMPAIGNS["tech_support"],
            replace(CAMPAIGNS["bank_imposter"], entry="gateway_reseller", cli="rotation"),
            CAMPAIGNS["tdos"],
            replace(CAMPAIGNS["health_insurance"], entry="gateway_reseller"),
        ),
        consumer_complaint_rate=0.01,
    ),
    "flood": Scenario(
        name="flood",
        description="Heavy campaign traffic (five times the default) for detection benchmarks.",
        campaign_volume=5.0,
    ),
}


def get_scenario(name: str) -> Scenario:
    try:
        scenario = SCENARIOS[name]
    except KeyError:
        raise InputError(f"unknown scenario {name!r}: use one of {', '.join(SCENARIOS)}") from None
    scenario.check()
    return scenario
