"""Building a world from a seed: providers, routes, number plan, customers and their sources.

``build_world`` runs the steps below in a fixed order. They share one random stream, so the
order of the draws is part of the output (same seed, same bytes): a step that draws must keep
its place, and a new draw belongs after the last one. What a world is, and why each piece
exists, is in ``model.py``. The steps, in order:

1. ``_providers``: every provider with its RMD number and clock offset, then
   ``_provider_flags``: who is outside the consortium or the RMD, non-responsive, lax.
2. ``_route_weights``: least-cost-routing partners of each provider (the network's shape).
3. ``_number_plan``: who owns each NPA-NXX block (subscribers and customers' numbers).
4. ``_gateway_ingress``: the orig_id a gateway signs for each foreign upstream.
5. Customers and their legal traffic, kind by kind: ``_residential``, ``_enterprises``,
   ``_call_centers``, ``_informational``, ``_us_wholesale``, ``_foreign_business``.
6. ``_campaigns``: each campaign's entry customer, caller-ID pool and source, then the TDoS
   target lines (``_place_targets``).

The world under construction is a ``_Draft``: what the steps share, and the helpers that draw
caller-ID pools, origination ids and customers from the stream.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from tracehop.simulate.model import (
    FORMATS,
    NPAS,
    PREMIUM_RANGES,
    PROVIDER_KINDS,
    TOLL_FREE_NPAS,
    WEEKLY,
    Customer,
    Provider,
    Source,
    World,
    hour_profile,
)
from tracehop.simulate.names import (
    ACCESS_NAMES,
    BAD_ACTORS,
    CALL_CENTERS,
    ENTERPRISES,
    FOREIGN_NAMES,
    GATEWAY_NAMES,
    INFORMATIONAL,
    INTERMEDIATE_NAMES,
    RESELLERS_FOREIGN,
    RESELLERS_US,
    US_NAMES,
    numbered,
    slug,
)
from tracehop.simulate.scenarios import SIGNINGS, CampaignSpec, Scenario


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


@dataclass
class NumberPlan:
    """Who owns which NPA-NXX block (``World.owner`` and the subscriber blocks)."""

    nxx: np.ndarray  # valid central-office codes: no N11, no 555
    owner: np.ndarray  # NPA-NXX (6 digits) -> provider index, -1 unowned
    sub_blocks: np.ndarray  # subscriber blocks, access provider after access provider
    sub_start: np.ndarray  # per provider: first index into sub_blocks (access only)
    sub_count: np.ndarray
    did_blocks: dict[int, np.ndarray]  # US originating provider -> its customers' blocks


@dataclass
class _Draft:
    """The world under construction: what the steps share, and the helpers that draw."""

    scenario: Scenario
    rng: np.random.Generator
    providers: list[Provider]
    by_kind: dict[str, list[int]]
    plan: NumberPlan
    customers: list[Customer] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    pools: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    pool_size: int = 0
    oids: list[str] = field(default_factory=list)
    cnams: list[str] = field(default_factory=lambda: [""])  # index 0: no caller name
    wholesale: list[Customer] = field(default_factory=list)  # US resellers (campaigns hide)
    gw_resellers: list[Customer] = field(default_factory=list)  # unlisted, at gateways

    @property
    def start(self) -> date:
        return date.fromisoformat(self.scenario.start)

    def add_pool(
        self, num: np.ndarray, length: int | np.ndarray = 10, intl: bool = False
    ) -> tuple[int, int]:
        """Append caller IDs to the world's pools; returns (offset, length) for a Source."""
        num = np.asarray(num, dtype=np.int64)
        lens = np.broadcast_to(np.asarray(length, dtype=np.int8), num.shape).copy()
        self.pools.append((num, lens, np.full(num.shape, intl)))
        off = self.pool_size
        self.pool_size += len(num)
        return off, len(num)

    def own_numbers(self, prov: int, n: int) -> tuple[int, int]:
        """A pool of ``n`` numbers in the originating provider's own blocks."""
        b = self.rng.choice(self.plan.did_blocks[prov], size=n)
        return self.add_pool(b * 10000 + self.rng.integers(0, 10000, n))

    def random_valid(self, n: int) -> np.ndarray:
        """``n`` valid NANP numbers anywhere (not necessarily owned by anyone)."""
        rng, nxx = self.rng, self.plan.nxx
        return (
            np.array(NPAS)[rng.integers(0, len(NPAS), n)] * 1000 + nxx[rng.integers(0, len(nxx), n)]
        ) * 10000 + rng.integers(0, 10000, n)

    def new_oid(self) -> int:
        self.oids.append(_uuid(self.rng))
        return len(self.oids) - 1

    def cnam(self, text: str) -> int:
        if text not in self.cnams:
            self.cnams.append(text)
        return self.cnams.index(text)

    def add_customer(
        self,
        pid: int,
        cid: str,
        name: str,
        kind: str,
        role: str,
        country: str = "US",
        recent: bool = False,
        notes: str = "",
    ) -> Customer:
        """A customer of provider ``pid``, onboarded long ago (or recently: bad actors)."""
        days_ago = int(self.rng.integers(20, 120)) if recent else int(self.rng.integers(120, 1500))
        n = len(self.customers)
        c = Customer(
            idx=len(self.providers) + n,
            id=cid,
            name=name,
            kind=kind,
            role=role,
            country=country,
            onboarded=self.start - timedelta(days=days_ago),
            provider=pid,
            notes=notes,
            ip=f"10.{(n // 250) % 250}.{n % 250}.{10 + pid}",
        )
        self.customers.append(c)
        return c

    def add_legal(
        self,
        c: Customer,
        role: str,
        cli: str,
        per_day: float,
        profile: str,
        weekly: str,
        pool: tuple[int, int] = (0, 0),
        answer: float = 0.45,
        dur: float = 90,
        sigma: float = 1.0,
        attest: int = 1,
        name: str = "",
    ) -> None:
        """The customer's legal traffic, as one source (signed ``attest`` unless 0)."""
        self.sources.append(
            Source(
                customer=c.idx,
                provider=c.provider,
                campaign="",
                role=role,
                cli=cli,
                called="random",
                per_day=per_day,
                profile=hour_profile(profile),
                weekly=WEEKLY[weekly],
                answer=answer,
                busy=0.06,
                cancel=0.08,
                failed=0.02,
                dur_median=dur,
                dur_sigma=sigma,
                ring_min=3,
                ring_max=20,
                pool=pool,
                attest=attest,
                oid=self.new_oid() if attest else -1,
                cnam=self.cnam(name),
            )
        )


def build_world(scenario: Scenario, seed: int) -> World:
    """Draw providers, customers, routes, number blocks and sources from ``seed``."""
    scenario.check()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    providers = _providers(scenario, rng)
    by_kind = {k: [p.idx for p in providers if p.kind == k] for k in PROVIDER_KINDS}
    _provider_flags(scenario, providers, by_kind)
    weights = _route_weights(providers, by_kind, rng)
    plan = _number_plan(scenario, by_kind, len(providers), rng)
    d = _Draft(scenario=scenario, rng=rng, providers=providers, by_kind=by_kind, plan=plan)
    ingress_oid = _gateway_ingress(d, weights)
    # Customers kind by kind, then the campaigns (which reuse the wholesale customers).
    _residential(d)
    _enterprises(d)
    _call_centers(d)
    _informational(d)
    _us_wholesale(d)
    _foreign_business(d)
    targets = _campaigns(d)
    return World(
        scenario=scenario,
        seed=seed,
        providers=providers,
        customers=d.customers,
        sources=d.sources,
        route_cum=_route_table(weights),
        owner=plan.owner,
        sub_blocks=plan.sub_blocks,
        sub_block_start=plan.sub_start,
        sub_block_count=plan.sub_count,
        pool_num=np.concatenate([p[0] for p in d.pools] or [np.zeros(0, np.int64)]),
        pool_len=np.concatenate([p[1] for p in d.pools] or [np.zeros(0, np.int8)]),
        pool_intl=np.concatenate([p[2] for p in d.pools] or [np.zeros(0, bool)]),
        targets=targets,
        oids=d.oids,
        ingress_oid=ingress_oid,
        cnams=d.cnams,
        honeypot_lines=max(1, round(10000 * scenario.honeypot_share * 8)),
    )


# --- 1. providers ----------------------------------------------------------------------------


def _providers(scenario: Scenario, rng: np.random.Generator) -> list[Provider]:
    """Every provider, kind after kind (``PROVIDER_KINDS`` order), from the name tables and
    the scenario's counts; draws each one's RMD number and switch clock offset."""
    providers: list[Provider] = []

    def add(pid: str, name: str, country: str, kind: str, roles: tuple[str, ...]) -> None:
        i = len(providers)
        providers.append(
            Provider(
                idx=i,
                id=pid,
                name=name,
                country=country,
                kind=kind,
                roles=roles,
                rmd_listed=True,
                rmd_id=f"RMD{int(rng.integers(1_000_000, 9_999_999))}",
                in_consortium=country == "US",
                responsive=True,
                cdr_format=FORMATS[i % len(FORMATS)],
                skew=float(rng.uniform(-1, 1)) * scenario.max_skew_seconds,
                ip=f"203.0.113.{10 + i}" if country == "US" else f"198.51.100.{10 + i}",
                signing="strict" if country == "US" else "none",
                # 4 digits like a real OCN, distinct per provider; no draw (same worlds)
                ocn=f"{1000 + (i * 389) % 9000:04d}" if country == "US" else "",
            )
        )

    for pid, name in numbered(US_NAMES, scenario.us_originating, "East"):
        add(pid, name, "US", "us_originating", ("originating",))
    for pid, name in numbered(ACCESS_NAMES, scenario.access, "Unit"):
        add(pid, name, "US", "access", ("originating", "terminating"))
    for pid, name, cc in numbered(FOREIGN_NAMES, scenario.foreign, "Intl"):
        add(pid, name, cc, "foreign", ("originating",))
    for pid, name in numbered(GATEWAY_NAMES, scenario.gateways, "Global"):
        add(pid, name, "US", "gateway", ("gateway", "intermediate"))
    for pid, name in numbered(INTERMEDIATE_NAMES, scenario.intermediates, "Transit"):
        add(pid, name, "US", "intermediate", ("intermediate",))
    return providers


def _provider_flags(
    scenario: Scenario, providers: list[Provider], by_kind: dict[str, list[int]]
) -> None:
    """The exceptions among providers (no draws): foreign providers outside the consortium or
    the RMD, non-responsive intermediates, lax signers."""
    foreign, inter = by_kind["foreign"], by_kind["intermediate"]
    us = by_kind["us_originating"]
    for k, f in enumerate(foreign):
        providers[f].in_consortium = k < scenario.foreign_in_consortium
        providers[f].rmd_listed = k % 3 != 2  # some foreign providers never filed in the RMD
        if not providers[f].rmd_listed:
            providers[f].rmd_id = ""
    # In the middle tier, so that some traces cross it and some do not.
    for k in range(min(scenario.non_responsive, len(inter) - 1)):
        providers[inter[len(inter) // 2 + k]].responsive = False
    for k in range(min(scenario.lax_signers, len(us))):
        providers[us[-1 - k]].signing = "lax"


# --- 2. routes -------------------------------------------------------------------------------


def _route_weights(
    providers: list[Provider], by_kind: dict[str, list[int]], rng: np.random.Generator
) -> np.ndarray:
    """P x (P+1) next-hop weights (column P: hand to the terminating provider), drawn like
    least-cost routing: a few partners each, weighted by price."""
    P = len(providers)
    foreign, gateways, inter = by_kind["foreign"], by_kind["gateway"], by_kind["intermediate"]
    w = np.zeros((P, P + 1))
    tier1 = inter[: max(2, len(inter) // 2)]
    for o in by_kind["us_originating"] + by_kind["access"]:
        for j in rng.choice(tier1, size=min(len(tier1), int(rng.integers(2, 4))), replace=False):
            w[o, j] = rng.uniform(1, 5)
    for f in foreign:
        for g in rng.choice(
            gateways, size=min(len(gateways), int(rng.integers(1, 3))), replace=False
        ):
            w[f, g] = rng.uniform(1, 5)
    for g in gateways:
        for j in rng.choice(inter, size=min(len(inter), int(rng.integers(2, 4))), replace=False):
            w[g, j] = rng.uniform(1, 5)
        w[g, P] = w[g].sum() * 0.3  # some gateways also deliver straight to terminating
    for rank, i in enumerate(inter):
        later = [j for j in inter if j > i]  # higher index only: no loops
        if later:
            k = min(len(later), int(rng.integers(1, 3)))
            for j in rng.choice(later, size=k, replace=False):
                w[i, j] = rng.uniform(1, 5)
            # exit share grows along the tiers: mean paths of about 5 providers (ITG figure)
            exit_share = 0.1 + 0.4 * rank / max(1, len(inter) - 1)
            w[i, P] = w[i, :P].sum() * exit_share / (1 - exit_share)
        else:
            w[i, P] = 1.0
    for a in by_kind["access"]:
        if w[a].sum() == 0:
            w[a, tier1[0]] = 1.0
    for i in inter:  # non-responsive carriers are small: few routes go through them
        if not providers[i].responsive:
            w[:, i] *= 0.1
    return w


def _route_table(w: np.ndarray) -> np.ndarray:
    """Route weights -> cumulative next-hop probabilities per provider (``World.route_cum``)."""
    sums = w.sum(axis=1, keepdims=True)
    sums[sums == 0] = 1.0
    route_cum = np.cumsum(w / sums, axis=1)
    # Exactly 1.0 at the end, so that a uniform draw always finds a next hop.
    route_cum[:, -1] = np.where(w.sum(axis=1) > 0, 1.0, route_cum[:, -1])
    return route_cum


# --- 3. number plan --------------------------------------------------------------------------


def _number_plan(
    scenario: Scenario, by_kind: dict[str, list[int]], n_providers: int, rng: np.random.Generator
) -> NumberPlan:
    """Distinct NPA-NXX blocks: ``blocks_per_access`` subscriber blocks per access provider,
    then 3 customer-number blocks per US originating provider."""
    nxx = np.array([x for x in range(200, 1000) if x % 100 != 11 and x != 555], dtype=np.int64)
    n_blocks = len(by_kind["access"]) * scenario.blocks_per_access + 3 * len(
        by_kind["us_originating"]
    )
    keys = rng.choice(len(NPAS) * len(nxx), size=n_blocks, replace=False)
    blocks = np.array(NPAS, dtype=np.int64)[keys // len(nxx)] * 1000 + nxx[keys % len(nxx)]
    owner = np.full(1_000_000, -1, dtype=np.int16)
    sub_start = np.zeros(n_providers, dtype=np.int64)
    sub_count = np.zeros(n_providers, dtype=np.int64)
    pos = 0
    for a in by_kind["access"]:
        sub_start[a], sub_count[a] = pos, scenario.blocks_per_access
        owner[blocks[pos : pos + scenario.blocks_per_access]] = a
        pos += scenario.blocks_per_access
    sub_blocks = blocks[:pos].copy()
    did_blocks: dict[int, np.ndarray] = {}
    for o in by_kind["us_originating"]:
        did_blocks[o] = blocks[pos : pos + 3]
        owner[did_blocks[o]] = o
        pos += 3
    return NumberPlan(
        nxx=nxx,
        owner=owner,
        sub_blocks=sub_blocks,
        sub_start=sub_start,
        sub_count=sub_count,
        did_blocks=did_blocks,
    )


# --- 4. gateway ingress ----------------------------------------------------------------------


def _gateway_ingress(d: _Draft, weights: np.ndarray) -> np.ndarray:
    """P x P: the orig_id a gateway signs (C) for traffic from each upstream that routes to
    it, one per ingress point; -1 elsewhere."""
    P = len(d.providers)
    ingress_oid = np.full((P, P), -1, dtype=np.int32)
    for g in d.by_kind["gateway"]:
        for f in range(P):
            if weights[f, g] > 0:
                ingress_oid[g, f] = d.new_oid()
    return ingress_oid


# --- 5. customers and their legal traffic ----------------------------------------------------


def _residential(d: _Draft) -> None:
    """One residential customer per access provider (its subscriber lines), sharing
    ``residential_per_day``; they call from their own lines, signed A."""
    access = d.by_kind["access"]
    share = d.rng.dirichlet(np.full(len(access), 4.0))
    for a, s in zip(access, share, strict=True):
        p = d.providers[a]
        c = d.add_customer(
            a, f"{p.id}-residential", f"{p.name} residential lines", "end_user", "residential"
        )
        d.add_legal(
            c,
            "residential",
            "subscriber",
            d.scenario.residential_per_day * s,
            "residential",
            "residential",
            answer=0.55,
            dur=100,
        )


def _enterprises(d: _Draft) -> None:
    """The ENTERPRISES, spread over the US originating providers, each calling from 3 to 19
    of its own numbers (signed A)."""
    us = d.by_kind["us_originating"]
    share = d.rng.dirichlet(np.full(len(ENTERPRISES), 2.0))
    for k, name in enumerate(ENTERPRISES):
        p = us[k % len(us)]
        c = d.add_customer(p, slug(name), name, "enterprise", "enterprise")
        d.add_legal(
            c,
            "enterprise",
            "own",
            d.scenario.enterprise_per_day * share[k],
            "business",
            "business",
            pool=d.own_numbers(p, int(d.rng.integers(3, 20))),
            answer=0.5,
            dur=150,
        )


def _call_centers(d: _Draft) -> None:
    """The consented CALL_CENTERS: 20 to 59 own numbers each, business hours, no Sunday."""
    us = d.by_kind["us_originating"]
    share = d.rng.dirichlet(np.full(len(CALL_CENTERS), 3.0))
    for k, name in enumerate(CALL_CENTERS):
        p = us[(k * 2 + 1) % len(us)]
        c = d.add_customer(
            p, slug(name), name, "call_center", "call_center", notes="consented outbound calling"
        )
        d.add_legal(
            c,
            "call_center",
            "own",
            d.scenario.call_center_per_day * share[k],
            "business",
            "call_center",
            pool=d.own_numbers(p, int(d.rng.integers(20, 60))),
            answer=0.33,
            dur=120,
        )


def _informational(d: _Draft) -> None:
    """The INFORMATIONAL robocallers (reminders, notices): legal look-alikes of a campaign."""
    us = d.by_kind["us_originating"]
    share = d.rng.dirichlet(np.full(len(INFORMATIONAL), 3.0))
    for k, (name, shown) in enumerate(INFORMATIONAL):
        p = us[(k * 3 + 2) % len(us)]
        c = d.add_customer(
            p,
            slug(name),
            name,
            "enterprise",
            "informational",
            notes="informational robocalls (consented)",
        )
        # High volume, short calls, but one or two consistent, valid, A-signed numbers.
        d.add_legal(
            c,
            "informational",
            "own",
            d.scenario.informational_per_day * share[k],
            "reminders",
            "reminders",
            pool=d.own_numbers(p, int(d.rng.integers(1, 3))),
            answer=0.7,
            dur=22,
            sigma=0.35,
            name=shown,
        )


def _us_wholesale(d: _Draft) -> None:
    """The RESELLERS_US: unlisted wholesale carriers whose legal traffic (200 valid numbers)
    is signed B; two campaigns hide in it (``d.wholesale``)."""
    us = d.by_kind["us_originating"]
    for k, name in enumerate(RESELLERS_US):
        p = us[(k * 2) % len(us)]
        c = d.add_customer(
            p,
            slug(name),
            name,
            "carrier",
            "wholesale",
            notes="wholesale customer (not in the traceback directory)",
        )
        d.wholesale.append(c)
        d.add_legal(
            c,
            "wholesale",
            "own",
            d.scenario.wholesale_per_day / len(RESELLERS_US),
            "business",
            "business",
            pool=d.add_pool(d.random_valid(200)),
            answer=0.42,
            dur=80,
            attest=2,
        )


def _foreign_business(d: _Draft) -> None:
    """One business customer per foreign provider, calling valid US numbers, unsigned (the
    gateway signs C)."""
    foreign = d.by_kind["foreign"]
    share = d.rng.dirichlet(np.full(len(foreign), 3.0))
    for k, f in enumerate(foreign):
        p = d.providers[f]
        c = d.add_customer(
            f,
            f"{p.id}-business",
            f"{p.name} business customers",
            "enterprise",
            "foreign_enterprise",
            country=p.country,
        )
        d.add_legal(
            c,
            "foreign",
            "own",
            d.scenario.foreign_legal_per_day * share[k],
            "business",
            "business",
            pool=d.add_pool(d.random_valid(100)),
            answer=0.45,
            dur=200,
            attest=0,
        )


# --- 6. campaigns ----------------------------------------------------------------------------


def _campaigns(d: _Draft) -> np.ndarray:
    """One source per campaign of the scenario, through the customer its entry names, with
    its caller-ID pool; returns the TDoS target lines (``World.targets``)."""
    # Drawn before the campaigns (and even with none) so that every later draw keeps its place.
    hospital = d.plan.sub_blocks[int(d.rng.integers(0, len(d.plan.sub_blocks)))] * 10000
    for n, spec in enumerate(d.scenario.campaigns):
        c, attest = _ENTRIES[spec.entry](d, n)
        c.campaigns.append(spec.kind)
        pool = _CLI_POOLS[spec.cli](d, spec) if spec.cli in _CLI_POOLS else (0, 0)
        # offsets are fixed by _place_targets: one target set per campaign
        targets = (n, spec.targets) if spec.called == "targets" else (0, 0)
        burst = tuple(int(h) for h in d.rng.choice(np.arange(13, 22), size=2, replace=False))
        d.sources.append(
            Source(
                customer=c.idx,
                provider=c.provider,
                campaign=spec.kind,
                role="campaign",
                cli=spec.cli,
                called=spec.called,
                per_day=spec.calls_per_day * d.scenario.campaign_volume,
                profile=hour_profile(spec.profile, burst),
                weekly=WEEKLY["campaign"],
                answer=spec.answer_rate,
                busy=spec.busy_rate,
                cancel=spec.cancel_rate,
                failed=spec.failed_rate,
                dur_median=spec.duration_median,
                dur_sigma=spec.duration_sigma,
                ring_min=spec.ring_min,
                ring_max=spec.ring_max,
                pool=pool,
                targets=targets,
                attest=attest,
                oid=d.new_oid() if attest else -1,
                cnam=d.cnam(spec.cnam),
                active_share=spec.active_share,
                description=spec.description,
                hangup=spec.hangup_share,
                signing=SIGNINGS.index(spec.signing),
            )
        )
    return _place_targets(d.sources, int(hospital))


def _bad_actor_name(n: int) -> str:
    names = list(BAD_ACTORS)
    return names[n % len(names)] + ("" if n < len(names) else f" {n}")


def _enter_us_direct(d: _Draft, n: int) -> tuple[Customer, int]:
    """A recently onboarded bad actor at a US originating provider, the lax signer first (bad
    actors choose lax providers); signed A there, B at a strict one."""
    us = d.by_kind["us_originating"]
    p = us[-1 - (n % len(us))]
    bad = _bad_actor_name(n)
    c = d.add_customer(
        p, slug(bad), bad, "call_center" if n % 2 else "end_user", "bad_actor", recent=True
    )
    return c, 1 if d.providers[p].signing == "lax" else 2


def _enter_us_reseller(d: _Draft, n: int) -> tuple[Customer, int]:
    """Behind one of the US wholesale resellers, mixed into its legal traffic (signed B)."""
    return d.wholesale[n % len(d.wholesale)], 2


def _enter_foreign(d: _Draft, n: int) -> tuple[Customer, int]:
    """A bad actor at a foreign provider, the unlisted, non-consortium ones first; unsigned."""
    foreign = d.by_kind["foreign"]
    f = foreign[-1 - (n % len(foreign))]
    bad = _bad_actor_name(n)
    c = d.add_customer(
        f, slug(bad), bad, "call_center", "bad_actor", country=d.providers[f].country, recent=True
    )
    return c, 0


def _enter_gateway_reseller(d: _Draft, n: int) -> tuple[Customer, int]:
    """An unlisted foreign reseller at a US gateway (signed C there): a new one, with its own
    legal traffic, while RESELLERS_FOREIGN lasts, then one already made."""
    k = len(d.gw_resellers)
    if k >= len(RESELLERS_FOREIGN):
        return d.gw_resellers[n % len(d.gw_resellers)], 3
    gateways = d.by_kind["gateway"]
    g = gateways[k % (d.scenario.reseller_gateways or len(gateways))]
    rname, cc = RESELLERS_FOREIGN[k]
    c = d.add_customer(
        g,
        slug(rname),
        rname,
        "carrier",
        "foreign_reseller",
        country=cc,
        recent=True,
        notes="foreign wholesale customer",
    )
    d.gw_resellers.append(c)
    d.add_legal(
        c,
        "foreign_reseller",
        "own",
        d.scenario.foreign_legal_per_day / 4,
        "business",
        "business",
        pool=d.add_pool(d.random_valid(100)),
        answer=0.4,
        dur=150,
        attest=3,
    )
    return c, 3


# Campaign entry (scenarios.ENTRIES) -> (the customer the calls come from, attestation).
_ENTRIES: dict[str, Callable[[_Draft, int], tuple[Customer, int]]] = {
    "us_direct": _enter_us_direct,
    "us_reseller": _enter_us_reseller,
    "foreign": _enter_foreign,
    "gateway_reseller": _enter_gateway_reseller,
}


def _rotation_pool(d: _Draft, spec: CampaignSpec) -> tuple[int, int]:
    """``pool_size`` random valid numbers, rotated through."""
    return d.add_pool(d.random_valid(spec.pool_size))


def _toll_free_pool(d: _Draft, spec: CampaignSpec) -> tuple[int, int]:
    """Look-alikes of one toll-free support line: the last two digits vary."""
    rng, nxx = d.rng, d.plan.nxx
    base = (
        TOLL_FREE_NPAS[int(rng.integers(0, len(TOLL_FREE_NPAS)))] * 1000
        + int(nxx[rng.integers(0, len(nxx))])
    ) * 10000 + int(rng.integers(0, 100)) * 100
    return d.add_pool(base + rng.choice(100, size=min(100, spec.pool_size), replace=False))


def _intl_premium_pool(d: _Draft, spec: CampaignSpec) -> tuple[int, int]:
    """International premium-rate numbers (PREMIUM_RANGES) that one-ring victims call back."""
    rng = d.rng
    rows = [PREMIUM_RANGES[int(i)] for i in rng.integers(0, len(PREMIUM_RANGES), spec.pool_size)]
    num = np.array(
        [
            int(pre) * 10 ** (L - len(pre)) + int(rng.integers(0, 10 ** (L - len(pre))))
            for pre, L in rows
        ],
        dtype=np.int64,
    )
    return d.add_pool(num, np.array([L for _p, L in rows]), intl=True)


# Caller-ID strategies that need a pool; the others are drawn per call in traffic.py.
_CLI_POOLS: dict[str, Callable[[_Draft, CampaignSpec], tuple[int, int]]] = {
    "rotation": _rotation_pool,
    "toll_free": _toll_free_pool,
    "intl_premium": _intl_premium_pool,
}


def _place_targets(sources: list[Source], hospital: int) -> np.ndarray:
    """The target lines of each ``targets`` campaign, switchboard lines of one hospital's
    block, laid end to end; sets each source's (offset, length) into them."""
    target_list: list[int] = []
    for s in sources:
        if s.called == "targets":
            k = s.targets[1]
            s.targets = (len(target_list), k)
            target_list.extend(int(hospital + 100 + j) for j in range(k))  # switchboard lines
    return np.array(target_list, dtype=np.int64)
