"""What a simulated world is: its providers, customers, traffic sources and number plan.

``world.py`` builds one from the seed (small: tens of providers, a few hundred customers);
``traffic.py`` then reads it as flat numpy arrays so that millions of calls are generated
without a Python loop per call. Why each piece exists:

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

from dataclasses import dataclass, field
from datetime import date

import numpy as np

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
# Provider kinds, in index order (see above: routes rely on it).
PROVIDER_KINDS: tuple[str, ...] = ("us_originating", "access", "foreign", "gateway", "intermediate")

# Hour-of-day weights in UTC (US Eastern is UTC-5 in winter, UTC-4 from mid-March).
_H = np.arange(24)
_ET = (_H - 5) % 24  # Eastern hour for each UTC hour


def hour_profile(name: str, burst_hours: tuple[int, ...] = ()) -> np.ndarray:
    """Share of a day's calls in each UTC hour (sums to 1) for one of ``scenarios.PROFILES``."""
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
    ocn: str = ""  # Operating Company Number (US providers): the SPC of its SHAKEN certificate


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
    hangup: float = 0.0  # share of answered calls hung up within 1-9 s (campaigns)
    signing: int = 0  # index into scenarios.SIGNINGS (0: valid)


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
