"""The simulated world: providers, their customers, number blocks, routes and traffic sources.

Built once from the seed (small: tens of providers, a few hundred customers), then used by
``traffic.py`` as flat numpy arrays so that millions of calls are generated without a Python
loop per call. Why each piece exists:

- **Providers** in the roles of DOMAIN.md. Index order matters: US originating, access
  (terminating carriers that also originate their subscribers' calls), foreign, gateways,
  intermediates. Intermediates only route to intermediates of a higher index, so routes are
  loop-free and a path has at most ``max_transit`` transit hops (3 to 7 providers in all).
- **Customers**: who sends each provider its calls. The ``upstream`` value in a provider's
  CDRs is a customer id or, for provider-to-provider traffic, the sending provider's id.
- **Sources**: one stream of calls each (a customer's legal traffic or a campaign), with its
  caller-ID and called-number strategies, volume, time profile, answer rate and durations.
- **Number plan**: NPA-NXX blocks owned by access providers (subscribers) and by originating
  providers (their customers' numbers), so the terminating provider of a call follows from its
  called number, as number portability data would tell a real hub.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

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
)
from tracehop.simulate.scenarios import Scenario

# Assigned, geographic NANP area codes (checked valid by phonenumbers in the tests).
_NPA_TEXT = (
    "201 202 203 205 206 207 208 209 210 212 213 214 215 216 217 218 219 224 225 228 229 "
    "231 234 239 240 248 251 252 253 254 256 260 262 267 269 270 276 281 301 302 303 304 "
    "305 307 308 309 310 312 313 314 315 316 317 318 319 320 321 323 325 330 334 336 337 "
    "339 347 351 352 360 361 386 401 402 404 405 406 407 408 409 410 412 413 414 415 417 "
    "419 423 424 425 430 432 434 435 440 443 469 478 479 480 484 501 502 503 504 505 507 "
    "508 509 510 512 513 515 516 517 518 520 530 540 541 551 559 561 562 563 567 570 571 "
    "573 574 575 580 585 586 601 602 603 605 606 607 608 609 610 612 614 615 616 617 618 "
    "619 620 623 626 630 631 636 641 646 650 651 660 661 662 678 682 701 702 703 704 706 "
    "707 708 712 713 714 715 716 717 718 719 720 724 727 731 732 734 740 754 757 760 763 "
    "765 770 772 773 774 775 781 785 786 801 802 803 804 805 806 810 812 813 814 815 816 "
    "817 818 828 830 831 832 843 845 847 848 850 856 857 858 859 860 862 863 864 865 870 "
    "872 901 903 904 906 907 908 909 910 912 913 914 915 916 917 918 919 920 925 928 931 "
    "936 937 940 941 949 951 952 954 956 970 971 972 973 978 979 980 985 989"
)
NPAS: tuple[int, ...] = tuple(int(x) for x in _NPA_TEXT.split())
TOLL_FREE_NPAS: tuple[int, ...] = (800, 833, 844, 855, 866, 877, 888)
# International premium-rate ranges (country code + range prefix, total digits), all classed
# PREMIUM_RATE by phonenumbers: the numbers one-ring scams want the victim to call back.
PREMIUM_RANGES: tuple[tuple[str, int], ...] = (
    ("44909", 12),  # United Kingdom 09xx
    ("21688", 11),  # Tunisia
    ("375902", 13),  # Belarus
    ("370900", 11),  # Lithuania
    ("43900", 11),  # Austria
)
FORMATS: tuple[str, ...] = ("generic", "freeswitch", "asterisk", "kamailio")
ATTEST = ("", "A", "B", "C")

# Hour-of-day weights in UTC (US Eastern is UTC-5 in winter, UTC-4 from mid-March).
_H = np.arange(24)
_ET = (_H - 5) % 24  # Eastern hour for each UTC hour


def _profile(name: str, burst_hours: tuple[int, ...] = ()) -> np.ndarray:
    et = _ET
    if name == "business":  # 8 a.m. - 8 p.m. Eastern, dip at lunch; TCPA calling hours
        w = np.where((et >= 8) & (et < 20), 1.0, 0.02) * np.where(et == 12, 0.7, 1.0)
    elif name == "residential":  # low at night, evening peak
        w = np.interp(et, [0, 5, 8, 12, 17, 20, 23], [0.15, 0.05, 0.5, 0.9, 1.0, 0.9, 0.35])
    elif name == "reminders":  # appointment and school notices: morning and early evening
        w = np.where((et >= 7) & (et < 10), 1.0, 0.0) + np.where((et >= 16) & (et < 19), 0.7, 0)
        w = w + 0.01
    elif name == "evening":  # one-ring: evenings and nights, when people call back
        w = np.interp(et, [0, 6, 12, 17, 21, 23], [0.6, 0.2, 0.2, 0.8, 1.0, 0.8])
    elif name == "burst":  # floods: a couple of hours, nothing else
        w = np.full(24, 0.002)
        w[list(burst_hours)] = 1.0
    else:
        raise ValueError(name)
    return (w / w.sum()).astype(np.float64)


WEEKLY: dict[str, tuple[float, ...]] = {  # Monday .. Sunday
    "business": (1, 1, 1, 1, 1, 0.35, 0.15),
    "residential": (1, 1, 1, 1, 1.05, 0.95, 0.85),
    "call_center": (1, 1, 1, 1, 1, 0.3, 0.0),
    "reminders": (1, 1, 1, 1, 0.9, 0.2, 0.05),
    "campaign": (1, 1, 1, 1, 1, 0.6, 0.4),
}


@dataclass
class Provider:
    idx: int
    id: str
    name: str
    country: str
    kind: str  # us_originating | access | foreign | gateway | intermediate
    roles: tuple[str, ...]
    rmd_listed: bool
    rmd_id: str
    in_consortium: bool
    responsive: bool
    cdr_format: str
    skew: float  # this switch's clock offset, seconds
    ip: str
    signing: str  # strict | lax | none (foreign providers do not sign)


@dataclass
class Customer:
    idx: int  # position in World.names (providers come first)
    id: str
    name: str
    kind: str  # CustomerRecord kind: end_user | enterprise | call_center | carrier
    role: str  # truth: residential, enterprise, call_center, informational, wholesale, ...
    country: str
    onboarded: date
    provider: int
    campaigns: list[str] = field(default_factory=list)
    notes: str = ""
    ip: str = ""


@dataclass
class Source:
    """One stream of calls: a customer's legal traffic, or a campaign through a customer."""

    customer: int  # name index of the upstream customer at the entry provider
    provider: int  # entry provider
    campaign: str  # "" for legal traffic
    role: str
    cli: str
    called: str
    per_day: float
    profile: np.ndarray
    weekly: tuple[float, ...]
    answer: float
    busy: float
    cancel: float
    failed: float
    dur_median: float
    dur_sigma: float
    ring_min: float
    ring_max: float
    pool: tuple[int, int] = (0, 0)  # offset, length into World.pool_*
    targets: tuple[int, int] = (0, 0)  # offset, length into World.targets
    attest: int = 0  # 0 none, 1 A, 2 B, 3 C
    oid: int = -1
    cnam: int = 0
    active_share: float = 1.0
    description: str = ""


@dataclass
class World:
    scenario: Scenario
    seed: int
    providers: list[Provider]
    customers: list[Customer]
    sources: list[Source]
    route_cum: np.ndarray  # P x (P+1) cumulative next-hop probabilities; column P = exit
    owner: np.ndarray  # NPA-NXX (6 digits) -> provider index, -1 unowned
    sub_blocks: np.ndarray  # subscriber NPA-NXX blocks (of access providers)
    sub_block_start: np.ndarray  # per provider: first index into sub_blocks (access only)
    sub_block_count: np.ndarray
    pool_num: np.ndarray  # caller-ID pools: digits
    pool_len: np.ndarray  # number of digits
    pool_intl: np.ndarray  # True: international digits (with country code)
    targets: np.ndarray  # TDoS target lines (10-digit national numbers)
    oids: list[str]
    ingress_oid: np.ndarray  # P x P: orig_id a gateway signs for traffic from an upstream
    cnams: list[str]
    # Honeypots: lines >= 10000 - honeypot_lines in every NPA-NXX block divisible by 8.
    honeypot_lines: int

    @property
    def names(self) -> list[str]:
        return [p.id for p in self.providers] + [c.id for c in self.customers]

    @property
    def n_providers(self) -> int:
        return len(self.providers)

    def customer_by_idx(self, name_idx: int) -> Customer:
        return self.customers[name_idx - len(self.providers)]

    def upstreams_of(self, p: int) -> list[int]:
        """Providers that may hand calls to provider ``p`` (their route weight is positive)."""
        prob = np.diff(np.concatenate([np.zeros((self.n_providers, 1)), self.route_cum], axis=1))
        if self.providers[p].kind == "access":
            return [q for q in range(self.n_providers) if prob[q, -1] > 0]
        return [q for q in range(self.n_providers) if prob[q, p] > 0]


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def build_world(scenario: Scenario, seed: int) -> World:
    """Draw providers, customers, routes, number blocks and sources from ``seed``."""
    scenario.check()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    start = date.fromisoformat(scenario.start)
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
            )
        )

    def names(table: tuple, n: int, suffix: str) -> list[tuple]:
        out = list(table[: min(n, len(table))])
        for k in range(len(out), n):
            base = table[k % len(table)]
            out.append((f"{base[0]}-{k}", f"{base[1]} {suffix} {k}", *base[2:]))
        return out

    for pid, name in names(US_NAMES, scenario.us_originating, "East"):
        add(pid, name, "US", "us_originating", ("originating",))
    for pid, name in names(ACCESS_NAMES, scenario.access, "Unit"):
        add(pid, name, "US", "access", ("originating", "terminating"))
    for pid, name, cc in names(FOREIGN_NAMES, scenario.foreign, "Intl"):
        add(pid, name, cc, "foreign", ("originating",))
    for pid, name in names(GATEWAY_NAMES, scenario.gateways, "Global"):
        add(pid, name, "US", "gateway", ("gateway", "intermediate"))
    for pid, name in names(INTERMEDIATE_NAMES, scenario.intermediates, "Transit"):
        add(pid, name, "US", "intermediate", ("intermediate",))
    P = len(providers)
    by_kind = {
        k: [p.idx for p in providers if p.kind == k]
        for k in ("us_originating", "access", "foreign", "gateway", "intermediate")
    }
    foreign, gateways, inter = by_kind["foreign"], by_kind["gateway"], by_kind["intermediate"]
    for k, f in enumerate(foreign):
        providers[f].in_consortium = k < scenario.foreign_in_consortium
        providers[f].rmd_listed = k % 3 != 2  # some foreign providers never filed in the RMD
        if not providers[f].rmd_listed:
            providers[f].rmd_id = ""
    for k in range(min(scenario.non_responsive, len(inter) - 1)):
        providers[inter[len(inter) // 2 + k]].responsive = False
    for k in range(min(scenario.lax_signers, len(by_kind["us_originating"]))):
        providers[by_kind["us_originating"][-1 - k]].signing = "lax"

    # --- routes (least-cost-routing-like: a few partners each, weighted by price) ----------
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
        later = [j for j in inter if j > i]
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
    sums = w.sum(axis=1, keepdims=True)
    sums[sums == 0] = 1.0
    route_cum = np.cumsum(w / sums, axis=1)
    route_cum[:, -1] = np.where(w.sum(axis=1) > 0, 1.0, route_cum[:, -1])

    # --- number plan ----------------------------------------------------------------------
    nxx = np.array([x for x in range(200, 1000) if x % 100 != 11 and x != 555], dtype=np.int64)
    n_blocks = len(by_kind["access"]) * scenario.blocks_per_access + 3 * len(
        by_kind["us_originating"]
    )
    keys = rng.choice(len(NPAS) * len(nxx), size=n_blocks, replace=False)
    blocks = np.array(NPAS, dtype=np.int64)[keys // len(nxx)] * 1000 + nxx[keys % len(nxx)]
    owner = np.full(1_000_000, -1, dtype=np.int16)
    sub_start = np.zeros(P, dtype=np.int64)
    sub_count = np.zeros(P, dtype=np.int64)
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

    pools: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    pool_size = 0

    def add_pool(
        num: np.ndarray, length: int | np.ndarray = 10, intl: bool = False
    ) -> tuple[int, int]:
        nonlocal pool_size
        num = np.asarray(num, dtype=np.int64)
        lens = np.broadcast_to(np.asarray(length, dtype=np.int8), num.shape).copy()
        pools.append((num, lens, np.full(num.shape, intl)))
        off = pool_size
        pool_size += len(num)
        return off, len(num)

    def own_numbers(prov: int, n: int) -> tuple[int, int]:
        b = rng.choice(did_blocks[prov], size=n)
        return add_pool(b * 10000 + rng.integers(0, 10000, n))

    def random_valid(n: int) -> np.ndarray:
        return (
            np.array(NPAS)[rng.integers(0, len(NPAS), n)] * 1000 + nxx[rng.integers(0, len(nxx), n)]
        ) * 10000 + rng.integers(0, 10000, n)

    oids: list[str] = []

    def new_oid() -> int:
        oids.append(_uuid(rng))
        return len(oids) - 1

    ingress_oid = np.full((P, P), -1, dtype=np.int32)
    for g in gateways:
        for f in range(P):
            if w[f, g] > 0:
                ingress_oid[g, f] = new_oid()
    cnams: list[str] = [""]

    def cnam(text: str) -> int:
        if text not in cnams:
            cnams.append(text)
        return cnams.index(text)

    # --- customers and their sources ---------------------------------------------------------
    customers: list[Customer] = []
    sources: list[Source] = []

    def customer(
        pid: int,
        cid: str,
        name: str,
        kind: str,
        role: str,
        country: str = "US",
        recent: bool = False,
        notes: str = "",
    ) -> Customer:
        days_ago = int(rng.integers(20, 120)) if recent else int(rng.integers(120, 1500))
        c = Customer(
            idx=P + len(customers),
            id=cid,
            name=name,
            kind=kind,
            role=role,
            country=country,
            onboarded=start - timedelta(days=days_ago),
            provider=pid,
            notes=notes,
            ip=f"10.{(len(customers) // 250) % 250}.{len(customers) % 250}.{10 + pid}",
        )
        customers.append(c)
        return c

    def legal(
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
        sources.append(
            Source(
                customer=c.idx,
                provider=c.provider,
                campaign="",
                role=role,
                cli=cli,
                called="random",
                per_day=per_day,
                profile=_profile(profile),
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
                oid=new_oid() if attest else -1,
                cnam=cnam(name),
            )
        )

    def slug(text: str) -> str:
        """'Clearwater Law Offices' -> 'clearwater-law-offices' (trunk names of a switch)."""
        drop = {"llc", "inc", "ltd", "co", "pvt", "fze", "&"}
        words = ["".join(ch for ch in w if ch.isalnum()) for w in text.lower().split()]
        return "-".join([w for w in words if w and w not in drop][:3])

    access = by_kind["access"]
    share = rng.dirichlet(np.full(len(access), 4.0))
    for a, s in zip(access, share, strict=True):
        c = customer(
            a,
            f"{providers[a].id}-residential",
            f"{providers[a].name} residential lines",
            "end_user",
            "residential",
        )
        legal(
            c,
            "residential",
            "subscriber",
            scenario.residential_per_day * s,
            "residential",
            "residential",
            answer=0.55,
            dur=100,
        )
    us = by_kind["us_originating"]
    ent_share = rng.dirichlet(np.full(len(ENTERPRISES), 2.0))
    for k, name in enumerate(ENTERPRISES):
        p = us[k % len(us)]
        c = customer(p, slug(name), name, "enterprise", "enterprise")
        legal(
            c,
            "enterprise",
            "own",
            scenario.enterprise_per_day * ent_share[k],
            "business",
            "business",
            pool=own_numbers(p, int(rng.integers(3, 20))),
            answer=0.5,
            dur=150,
        )
    cc_share = rng.dirichlet(np.full(len(CALL_CENTERS), 3.0))
    for k, name in enumerate(CALL_CENTERS):
        p = us[(k * 2 + 1) % len(us)]
        c = customer(
            p, slug(name), name, "call_center", "call_center", notes="consented outbound calling"
        )
        legal(
            c,
            "call_center",
            "own",
            scenario.call_center_per_day * cc_share[k],
            "business",
            "call_center",
            pool=own_numbers(p, int(rng.integers(20, 60))),
            answer=0.33,
            dur=120,
        )
    inf_share = rng.dirichlet(np.full(len(INFORMATIONAL), 3.0))
    for k, (name, shown) in enumerate(INFORMATIONAL):
        p = us[(k * 3 + 2) % len(us)]
        c = customer(
            p,
            slug(name),
            name,
            "enterprise",
            "informational",
            notes="informational robocalls (consented)",
        )
        # High volume, short calls, but one or two consistent, valid, A-signed numbers.
        legal(
            c,
            "informational",
            "own",
            scenario.informational_per_day * inf_share[k],
            "reminders",
            "reminders",
            pool=own_numbers(p, int(rng.integers(1, 3))),
            answer=0.7,
            dur=22,
            sigma=0.35,
            name=shown,
        )
    resellers: list[Customer] = []
    for k, name in enumerate(RESELLERS_US):
        p = us[(k * 2) % len(us)]
        c = customer(
            p,
            slug(name),
            name,
            "carrier",
            "wholesale",
            notes="wholesale customer (not in the traceback directory)",
        )
        resellers.append(c)
        legal(
            c,
            "wholesale",
            "own",
            scenario.wholesale_per_day / len(RESELLERS_US),
            "business",
            "business",
            pool=add_pool(random_valid(200)),
            answer=0.42,
            dur=80,
            attest=2,
        )
    f_share = rng.dirichlet(np.full(len(foreign), 3.0))
    for k, f in enumerate(foreign):
        c = customer(
            f,
            f"{providers[f].id}-business",
            f"{providers[f].name} business customers",
            "enterprise",
            "foreign_enterprise",
            country=providers[f].country,
        )
        legal(
            c,
            "foreign",
            "own",
            scenario.foreign_legal_per_day * f_share[k],
            "business",
            "business",
            pool=add_pool(random_valid(100)),
            answer=0.45,
            dur=200,
            attest=0,
        )
    gw_resellers: list[Customer] = []

    # --- campaigns ----------------------------------------------------------------------------
    hospital = sub_blocks[int(rng.integers(0, len(sub_blocks)))] * 10000
    bad_names = list(BAD_ACTORS)
    for n, spec in enumerate(scenario.campaigns):
        bad = bad_names[n % len(bad_names)] + ("" if n < len(bad_names) else f" {n}")
        if spec.entry == "us_direct":
            p = us[-1 - (n % len(us))]  # the lax signer first: bad actors choose lax providers
            c = customer(
                p, slug(bad), bad, "call_center" if n % 2 else "end_user", "bad_actor", recent=True
            )
            attest = 1 if providers[p].signing == "lax" else 2
        elif spec.entry == "us_reseller":
            c = resellers[n % len(resellers)]
            attest = 2
        elif spec.entry == "foreign":
            f = foreign[-1 - (n % len(foreign))]  # the unlisted, non-consortium ones first
            c = customer(
                f,
                slug(bad),
                bad,
                "call_center",
                "bad_actor",
                country=providers[f].country,
                recent=True,
            )
            attest = 0
        else:  # gateway_reseller: an unlisted foreign reseller at a US gateway
            k = len(gw_resellers)
            if k < len(RESELLERS_FOREIGN):
                g = gateways[k % (scenario.reseller_gateways or len(gateways))]
                rname, cc = RESELLERS_FOREIGN[k]
                c = customer(
                    g,
                    slug(rname),
                    rname,
                    "carrier",
                    "foreign_reseller",
                    country=cc,
                    recent=True,
                    notes="foreign wholesale customer",
                )
                gw_resellers.append(c)
                legal(
                    c,
                    "foreign_reseller",
                    "own",
                    scenario.foreign_legal_per_day / 4,
                    "business",
                    "business",
                    pool=add_pool(random_valid(100)),
                    answer=0.4,
                    dur=150,
                    attest=3,
                )
            else:
                c = gw_resellers[n % len(gw_resellers)]
            attest = 3
        c.campaigns.append(spec.kind)
        if spec.cli == "rotation":
            pool = add_pool(random_valid(spec.pool_size))
        elif spec.cli == "toll_free":  # look-alikes of one support line: last digits vary
            base = (
                TOLL_FREE_NPAS[int(rng.integers(0, len(TOLL_FREE_NPAS)))] * 1000
                + int(nxx[rng.integers(0, len(nxx))])
            ) * 10000 + int(rng.integers(0, 100)) * 100
            pool = add_pool(base + rng.choice(100, size=min(100, spec.pool_size), replace=False))
        elif spec.cli == "intl_premium":
            rows = [
                PREMIUM_RANGES[int(i)] for i in rng.integers(0, len(PREMIUM_RANGES), spec.pool_size)
            ]
            num = np.array(
                [
                    int(pre) * 10 ** (L - len(pre)) + int(rng.integers(0, 10 ** (L - len(pre))))
                    for pre, L in rows
                ],
                dtype=np.int64,
            )
            pool = add_pool(num, np.array([L for _p, L in rows]), intl=True)
        else:
            pool = (0, 0)
        targets = (0, 0)
        if spec.called == "targets":
            targets = (n, spec.targets)  # offsets are fixed below: one target set per campaign
        burst = tuple(int(h) for h in rng.choice(np.arange(13, 22), size=2, replace=False))
        sources.append(
            Source(
                customer=c.idx,
                provider=c.provider,
                campaign=spec.kind,
                role="campaign",
                cli=spec.cli,
                called=spec.called,
                per_day=spec.calls_per_day * scenario.campaign_volume,
                profile=_profile(spec.profile, burst),
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
                oid=new_oid() if attest else -1,
                cnam=cnam(spec.cnam),
                active_share=spec.active_share,
                description=spec.description,
            )
        )
    target_list: list[int] = []
    for s in sources:
        if s.called == "targets":
            k = s.targets[1]
            s.targets = (len(target_list), k)
            target_list.extend(int(hospital + 100 + j) for j in range(k))  # switchboard lines

    nums = [p[0] for p in pools] or [np.zeros(0, np.int64)]
    return World(
        scenario=scenario,
        seed=seed,
        providers=providers,
        customers=customers,
        sources=sources,
        route_cum=route_cum,
        owner=owner,
        sub_blocks=sub_blocks,
        sub_block_start=sub_start,
        sub_block_count=sub_count,
        pool_num=np.concatenate(nums),
        pool_len=np.concatenate([p[1] for p in pools] or [np.zeros(0, np.int8)]),
        pool_intl=np.concatenate([p[2] for p in pools] or [np.zeros(0, bool)]),
        targets=np.array(target_list, dtype=np.int64),
        oids=oids,
        ingress_oid=ingress_oid,
        cnams=cnams,
        honeypot_lines=max(1, round(10000 * scenario.honeypot_share * 8)),
    )
