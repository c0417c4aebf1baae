"""The second world generator: families of one provider's worlds with wide random parameters,
for judging detection on traffic it was not tuned to (docs/simulator.md, "Families";
docs/detection.md, "Evaluation on families").

A family world is what one provider sees: its upstream customers (carriers of all sizes,
call centers, reminder and notification senders, enterprises, bad actors) and the calls they
send it over a few days. Each customer's traffic is a mixture of components (``mixes.py``),
legal and illegal ones mixed inside one customer at 5-50 %, every parameter drawn from a
range per world. A family fixes the provider's role (``view``) and the ranges; its role in
evaluation (``tuning``: its worlds may be looked at to choose thresholds; ``evaluation``:
only to report) is part of its definition, so that the split is in the code.

Output (``generate``): ``world.json``, ``cdrs/<provider>.csv`` (the generic layout),
``customers/<provider>.csv``, ``dno.csv`` (the Do-Not-Originate numbers of the world) and
``truth/customers.csv`` / ``truth/components.csv``. The same family, seed and options give
the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from tracehop.errors import InputError
from tracehop.simulate.mixes import (
    ILLEGAL_KINDS,
    TIME_ZONES,
    Calls,
    Component,
    block_numbers,
    call_times,
    e164,
    impossible_numbers,
    local_profile,
    log_u,
    outcomes,
    pool,
    premium_numbers,
    thousand_blocks,
    toll_free_numbers,
    u,
    valid_numbers,
)

GENERIC_HEADER = (
    "call_id",
    "start",
    "caller",
    "called",
    "upstream",
    "downstream",
    "duration",
    "disposition",
    "sip_code",
    "attest",
    "orig_id",
)


@dataclass(frozen=True)
class Family:
    """A family of worlds: the provider's role and the ranges its customers are drawn from."""

    name: str
    role: str  # tuning | evaluation
    view: str  # gateway | wholesale | originating
    description: str
    days: int = 1
    carriers: tuple[int, int] = (4, 10)  # how many carrier customers
    carrier_size: tuple[float, float] = (500, 60_000)  # calls a day, log-uniform
    direct: tuple[int, int] = (2, 6)  # direct (non-carrier) customers
    direct_size: tuple[float, float] = (300, 30_000)
    bad_carrier_share: tuple[float, float] = (0.3, 0.6)  # carriers with illegal traffic
    minority: tuple[float, float] = (0.05, 0.5)  # illegal share inside a carrier
    bad_actors: tuple[int, int] = (0, 2)  # customers that are all illegal
    blasts: tuple[int, int] = (0, 2)  # school/political notification senders
    max_illegal_components: int = 1
    pass_through: float = 0.3  # chance a carrier passes each of call-center, reminder, blast


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "gateway",
            "tuning",
            "gateway",
            "A US gateway: foreign carriers of all sizes (scams mixed in at 5-50 %), foreign "
            "call centers and businesses, bad actors abroad; one day.",
        ),
        Family(
            "originating",
            "tuning",
            "originating",
            "A US originating provider: enterprises, consented call centers, reminder and "
            "notification senders, small resellers (some with scams mixed in), bad actors; "
            "one day.",
            carriers=(1, 3),
            carrier_size=(1_000, 15_000),
            direct=(6, 14),
            bad_actors=(1, 3),
            blasts=(1, 2),
        ),
        Family(
            "wholesale",
            "tuning",
            "wholesale",
            "A US transit provider: wholesale carriers of all sizes whose traffic is signed A "
            "or B upstream, with notification and call-center traffic passing through and "
            "scams mixed in; one day.",
            carriers=(6, 12),
            carrier_size=(1_000, 80_000),
            direct=(0, 2),
            bad_actors=(0, 1),
            blasts=(0, 1),
        ),
        Family(
            "gateway-3day",
            "tuning",
            "gateway",
            "A US gateway over three days (the issue's shape: about twenty customers, large "
            "carriers with one or two scams mixed in at 5-50 %).",
            days=3,
            carriers=(6, 12),
            carrier_size=(2_000, 60_000),
            direct=(3, 8),
            max_illegal_components=2,
        ),
        Family(
            "notification-season",
            "tuning",
            "originating",
            "An originating provider in an election and school season: many reminder, school "
            "and political blasts and call centers (the legal look-alikes), few bad actors; "
            "two days.",
            days=2,
            carriers=(1, 2),
            carrier_size=(1_000, 10_000),
            direct=(8, 16),
            direct_size=(1_000, 50_000),
            bad_actors=(0, 2),
            blasts=(3, 6),
        ),
        Family(
            "small-customers",
            "tuning",
            "originating",
            "An originating provider of small customers (300-3,000 calls a day), scams mixed "
            "in at 10-50 %: the floors of the rules; one day.",
            carriers=(3, 6),
            carrier_size=(300, 3_000),
            direct=(6, 12),
            direct_size=(300, 3_000),
            minority=(0.10, 0.5),
            bad_actors=(1, 3),
            blasts=(0, 1),
        ),
        # Added as held-out families when the four above moved to tuning (round 2). Three of
        # them showed the snowshoe mixed into a carrier that no rule saw; the rule written for
        # it (snowshoe_contrast) was chosen on their worlds, so they moved to tuning too
        # (round 3; docs/detection.md, "How the thresholds were chosen").
        Family(
            "transit-3day",
            "tuning",
            "wholesale",
            "A US transit provider over three days: carriers of 1,000-50,000 calls a day with "
            "up to two scams mixed in, a few direct customers and bad actors.",
            days=3,
            carriers=(4, 10),
            carrier_size=(1_000, 50_000),
            direct=(0, 3),
            bad_actors=(0, 2),
            blasts=(0, 2),
            max_illegal_components=2,
        ),
        Family(
            "gateway-small",
            "tuning",
            "gateway",
            "A US gateway of small foreign carriers and businesses (300-5,000 calls a day), "
            "scams at 10-50 %, over two days.",
            days=2,
            carriers=(4, 10),
            carrier_size=(300, 5_000),
            direct=(2, 6),
            direct_size=(300, 5_000),
            minority=(0.10, 0.5),
            bad_actors=(1, 3),
        ),
        Family(
            "originating-large",
            "evaluation",
            "originating",
            "A large US originating provider: big call centers, reminder and notification "
            "senders (3,000-80,000 calls a day), large resellers with up to two scams, bad "
            "actors; one day.",
            carriers=(2, 4),
            carrier_size=(5_000, 60_000),
            direct=(6, 12),
            direct_size=(3_000, 80_000),
            bad_actors=(1, 3),
            blasts=(1, 3),
            max_illegal_components=2,
        ),
        Family(
            "election-transit",
            "tuning",
            "wholesale",
            "A US transit provider in an election: carriers pass political and school blasts, "
            "reminders and call centers (each 60 % of the time), senders of blasts are direct "
            "customers too; two days.",
            days=2,
            carriers=(5, 10),
            carrier_size=(2_000, 40_000),
            direct=(2, 5),
            direct_size=(1_000, 30_000),
            bad_actors=(0, 2),
            blasts=(2, 5),
            pass_through=0.6,
        ),
        # Held out (round 3): added before snowshoe_contrast was chosen, run only once it was
        # final. originating-large (round 2) stays held out: none of its worlds had a miss and
        # no rule was chosen on them.
        Family(
            "gateway-busy",
            "evaluation",
            "gateway",
            "A busy US gateway over two days: 5-12 foreign carriers of 1,000-40,000 calls a "
            "day, most of them with up to two scams mixed in at 5-35 %, passing call-center, "
            "reminder and political traffic 45 % of the time; 2-5 direct customers.",
            days=2,
            carriers=(5, 12),
            carrier_size=(1_000, 40_000),
            direct=(2, 5),
            direct_size=(500, 20_000),
            bad_carrier_share=(0.4, 0.7),
            minority=(0.05, 0.35),
            bad_actors=(0, 2),
            max_illegal_components=2,
            pass_through=0.45,
        ),
        Family(
            "originating-resellers",
            "evaluation",
            "originating",
            "A US originating provider whose customers are mostly resellers: 3-7 resellers of "
            "2,000-30,000 calls a day (scams at 5-40 %), 4-10 enterprises, call centers and "
            "reminder senders of 500-40,000, 1-3 blasts, 0-2 bad actors; two days.",
            days=2,
            carriers=(3, 7),
            carrier_size=(2_000, 30_000),
            direct=(4, 10),
            direct_size=(500, 40_000),
            minority=(0.05, 0.4),
            bad_actors=(0, 2),
            blasts=(1, 3),
            pass_through=0.4,
        ),
    )
}

START = date(2025, 3, 3)  # a Monday, before daylight saving time
# Bumped whenever the same family and seed would give another world (kept worlds are then
# generated again: detection.evalfamilies).
GENERATOR_VERSION = 1


@dataclass
class Customer:
    id: str
    name: str
    kind: str  # customers file kind: enterprise | call_center | carrier | end_user
    role: str  # truth: carrier, call_center, reminders, ...
    country: str
    recent: bool
    components: list[Component] = field(default_factory=list)


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise InputError(f"unknown family {name!r}: use one of {', '.join(FAMILIES)}") from None


def _rng(family: str, seed: int, *more: int) -> np.random.Generator:
    key = int.from_bytes(hashlib.sha256(family.encode()).digest()[:4], "big")
    return np.random.default_rng(np.random.SeedSequence([key, seed, *more]))


# --- customers and their components -----------------------------------------------------------


def _tz(rng: np.random.Generator) -> str:
    return str(rng.choice(list(TIME_ZONES), p=[0.45, 0.3, 0.1, 0.15]))


def legal_component(kind: str, per_day: float, rng: np.random.Generator) -> Component:
    """A legal component with its parameters drawn from the kind's ranges (docs/simulator.md,
    "Families": what each range rests on)."""
    p: dict[str, Any] = {"tz": _tz(rng)}
    if kind == "conversational":
        p |= {"asr": u(rng, 0.40, 0.60), "median": u(rng, 60, 180), "sigma": u(rng, 0.9, 1.2)}
        p |= {"early": u(rng, 0.03, 0.12), "lines_per_call": u(rng, 0.3, 1.0)}
        p |= {"local": u(rng, 0, 0.05), "popular": u(rng, 0, 0.02), "refused": u(rng, 0, 0.02)}
        p |= {"misconfig": u(rng, 0, 0.003), "own_toll_free": u(rng, 0, 0.01)}
    elif kind == "call_center":
        p |= {"asr": u(rng, 0.20, 0.50), "median": u(rng, 90, 240), "sigma": u(rng, 0.7, 1.0)}
        p |= {"amd": u(rng, 0, 0.25), "early": u(rng, 0.02, 0.08)}
        p |= {"lines": int(rng.integers(10, 61)), "weekly": (1, 1, 1, 1, 1, 0.4, 0.0)}
    elif kind == "reminders":
        p |= {"asr": u(rng, 0.55, 0.85), "median": u(rng, 15, 40), "sigma": 0.35}
        p |= {"early": u(rng, 0.05, 0.20), "lines": int(rng.integers(1, 5))}
        p |= {"weekly": (1, 1, 1, 1, 0.9, 0.2, 0.05)}
    elif kind == "school_blast":
        p |= {"asr": u(rng, 0.55, 0.85), "median": u(rng, 20, 45), "sigma": 0.3}
        p |= {"early": u(rng, 0.05, 0.25), "lines": int(rng.integers(1, 4))}
        starts = [6, 7, 15, 16, 17]
        p["bursts"] = [
            (int(rng.choice(starts)), int(rng.integers(20, 91))) for _ in range(rng.integers(1, 3))
        ]
        p["weekly"] = (1, 1, 1, 1, 1, 0.1, 0.1)
    elif kind == "political_blast":
        p |= {"asr": u(rng, 0.45, 0.75), "median": u(rng, 20, 45), "sigma": 0.3}
        p |= {"early": u(rng, 0.10, 0.35), "lines": int(rng.integers(1, 6))}
        p["bursts"] = [
            (int(rng.integers(10, 19)), int(rng.integers(60, 181)))
            for _ in range(rng.integers(1, 4))
        ]
        p["weekly"] = (1, 1, 1, 1, 1, 1, 0.7)
    else:
        raise ValueError(kind)
    if "bursts" not in p:
        p["profile"] = local_profile(kind, rng)
    return Component(kind, per_day, p)


def illegal_component(kind: str, per_day: float, rng: np.random.Generator) -> Component:
    """An illegal component: the robocall answered shape (hung up or silent within seconds,
    a recorded message, a few transferred to a live agent), low completion, and the caller-ID
    and called-number strategy of its kind."""
    p: dict[str, Any] = {"tz": _tz(rng), "asr": u(rng, 0.08, 0.40), "early": u(rng, 0.35, 0.75)}
    p |= {"median": u(rng, 12, 40), "sigma": 0.4, "transfer": u(rng, 0, 0.10)}
    p |= {"transfer_median": u(rng, 60, 300), "refused": u(rng, 0, 0.15)}
    p |= {"busy": u(rng, 0.03, 0.10), "cancel": u(rng, 0.10, 0.30), "fail": u(rng, 0.05, 0.25)}
    p["weekly"] = (1, 1, 1, 1, 1, 0.6, 0.4)
    if kind == "imposter_tollfree":
        p["style"] = str(rng.choice(["lookalike", "random"]))
        p["pool"] = int(rng.integers(20, 101))
    elif kind == "snowshoe":
        p["style"] = str(rng.choice(["bought", "spread"]))
        p["uses"] = u(rng, 1, 10)  # calls per caller ID
    elif kind == "steady_robocall":
        p |= {"lines": int(rng.integers(3, 21)), "asr": u(rng, 0.08, 0.30)}
    elif kind == "sequential":
        p["style"] = str(rng.choice(["rotation", "neighbour"]))
        p["blocks"] = int(rng.integers(1, 6))
    elif kind == "one_ring":
        p |= {"asr": 0.0, "cancel": u(rng, 0.85, 0.98), "busy": 0.01, "fail": 0.01}
        p["pool"] = int(rng.integers(20, 201))
        p["weekly"] = (1, 1, 1, 1, 1, 1, 1)
    elif kind == "tdos":
        p |= {"asr": u(rng, 0.5, 0.9), "median": u(rng, 5, 120), "sigma": 1.0, "early": 0.0}
        p |= {"targets": int(rng.integers(1, 4)), "transfer": 0.0}
        p["style"] = str(rng.choice(["random", "impossible"]))
        p["bursts"] = [
            (int(rng.integers(8, 20)), int(rng.integers(30, 121)))
            for _ in range(rng.integers(1, 3))
        ]
        p["weekly"] = (1, 1, 1, 1, 1, 1, 1)
    elif kind not in ILLEGAL_KINDS:
        raise ValueError(kind)
    if "bursts" not in p:
        p["profile"] = local_profile(kind, rng)
    return Component(kind, per_day, p)


_BAD_KINDS = tuple(ILLEGAL_KINDS)
# Kinds a carrier can hide (a flood or a one-ring wave hides in a carrier too).
_MIXED_KINDS = _BAD_KINDS


def _customers(f: Family, rng: np.random.Generator, scale: float) -> list[Customer]:
    """The provider's customers, drawn from the family's ranges."""
    out: list[Customer] = []
    foreign = f.view == "gateway"
    n_carriers = int(rng.integers(f.carriers[0], f.carriers[1] + 1))
    for i in range(n_carriers):
        size = log_u(rng, *f.carrier_size) * scale
        c = Customer(f"carrier-{i + 1}", f"Carrier {i + 1}", "carrier", "carrier",
                     "GB" if foreign else "US", recent=False)  # fmt: skip
        c.components.append(legal_component("conversational", size, rng))
        c.components[0].params["spread"] = True
        for kind in ("call_center", "reminders", "political_blast"):  # passing through
            if rng.random() < f.pass_through:
                c.components.append(legal_component(kind, size * u(rng, 0.05, 0.3), rng))
        if rng.random() < u(rng, *f.bad_carrier_share):
            legal = sum(x.per_day for x in c.components)
            for _ in range(int(rng.integers(1, f.max_illegal_components + 1))):
                share = u(rng, *f.minority)
                kind = str(rng.choice(_MIXED_KINDS))
                c.components.append(
                    illegal_component(kind, legal * share / max(1e-9, 1 - share), rng)
                )
        out.append(c)
    n_direct = int(rng.integers(f.direct[0], f.direct[1] + 1))
    kinds = ["enterprise", "call_center", "reminders"]
    for i in range(n_direct):
        role = kinds[i % len(kinds)] if i < 3 else str(rng.choice(kinds, p=[0.4, 0.35, 0.25]))
        size = log_u(rng, *f.direct_size) * scale
        kind = "conversational" if role == "enterprise" else role
        cust_kind = "enterprise" if role in ("enterprise", "reminders") else "call_center"
        c = Customer(f"{role}-{i + 1}", f"{role.title()} {i + 1}", cust_kind, role,
                     "GB" if foreign else "US", recent=False)  # fmt: skip
        c.components.append(legal_component(kind, size, rng))
        out.append(c)
    for i in range(int(rng.integers(f.blasts[0], f.blasts[1] + 1))):
        kind = str(rng.choice(["school_blast", "political_blast"]))
        size = log_u(rng, 2_000, 60_000) * scale
        c = Customer(f"notify-{i + 1}", f"Notifications {i + 1}", "enterprise", kind, "US",
                     recent=False)  # fmt: skip
        c.components.append(legal_component(kind, size, rng))
        out.append(c)
    for i in range(int(rng.integers(f.bad_actors[0], f.bad_actors[1] + 1))):
        kind = str(rng.choice(_BAD_KINDS))
        size = log_u(rng, 300, 20_000) * scale
        c = Customer(f"dialer-{i + 1}", f"Dialer {i + 1}", "call_center", "bad_actor",
                     "PH" if foreign else "US", recent=True)  # fmt: skip
        c.components.append(illegal_component(kind, size, rng))
        out.append(c)
    return out


# --- calls ------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    """What the customers' calls share: the world's DNO list and popular numbers."""

    dno: np.ndarray
    popular: np.ndarray


def _callers(
    c: Component, n: int, called: np.ndarray, own: np.ndarray, ctx: _Ctx, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Caller IDs of ``n`` calls, and called numbers (some strategies set both)."""
    p = c.params
    k = c.kind
    if k == "conversational":
        k = max(3, int(c.per_day * p["lines_per_call"]) + 1)
        # a carrier's callers are other providers' subscribers, anywhere; an enterprise's are
        # its own numbers
        lines = e164(valid_numbers(rng, k) if p.get("spread") else block_numbers(rng, own, k))
        caller = pool(rng, lines, n, 0.3)
        local = rng.random(n) < p["local"]  # calls to the caller's own exchange
        nat = np.array([int(x[2:]) for x in caller[local]], dtype=np.int64)
        called[local] = e164(nat // 10000 * 10000 + rng.integers(0, 10000, len(nat)))
        pop = rng.random(n) < p["popular"]
        called[pop] = ctx.popular[rng.integers(0, len(ctx.popular), int(pop.sum()))]
        odd = rng.random(n)
        bad = odd < p["misconfig"]  # a misconfigured PBX: one or a few impossible numbers
        fixed = impossible_numbers(rng, 3, called[:3] if n >= 3 else np.array(["+1"] * 3))
        caller[bad] = fixed[rng.integers(0, 1 + int(rng.integers(0, 3)), int(bad.sum()))]
        tf = (odd >= p["misconfig"]) & (odd < p["misconfig"] + p["own_toll_free"])
        caller[tf] = toll_free_numbers(rng, 3)[rng.integers(0, 3, int(tf.sum()))]
        return caller, called
    if "lines" in p:  # call centers, reminders, blasts, steady robocalls: own lines
        lines = e164(block_numbers(rng, own, p["lines"]))
        return pool(rng, lines, n, 0.0 if k == "call_center" else 0.5), called
    if k == "imposter_tollfree":
        if p["style"] == "lookalike":
            base = toll_free_numbers(rng, 1)[0][:-2]
            looks = np.array([f"{base}{d:02d}" for d in rng.choice(100, p["pool"], False)])
            return pool(rng, looks.astype(object), n, 0.0), called
        return toll_free_numbers(rng, n), called
    if k == "tollfree_invalid_mix":
        caller = toll_free_numbers(rng, n)
        half = rng.random(n) < 0.5
        caller[half] = impossible_numbers(rng, int(half.sum()), called[half])
        return caller, called
    if k == "dno_imposter":
        return pool(rng, ctx.dno, n, 0.8), called
    if k == "impossible_cli" or (k == "tdos" and p["style"] == "impossible"):
        return impossible_numbers(rng, n, called), called
    if k == "neighbour_spoof" or (k == "sequential" and p["style"] == "neighbour"):
        nat = np.array([int(x[2:]) for x in called], dtype=np.int64)
        return e164(nat // 10000 * 10000 + rng.integers(0, 10000, n)), called
    if k == "snowshoe":
        size = max(50, int(n / p["uses"]))
        if p["style"] == "bought":
            nums = block_numbers(rng, thousand_blocks(rng, int(rng.integers(1, 6))), size)
        else:
            nums = valid_numbers(rng, size)
        return pool(rng, e164(nums), n, 0.0), called
    if k == "one_ring":
        return pool(rng, premium_numbers(rng, p["pool"]), n, 0.3), called
    return e164(valid_numbers(rng, n)), called  # tdos random, sequential rotation


def _called(c: Component, n: int, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    p = c.params
    if c.kind == "tdos":
        targets = e164(valid_numbers(rng, p["targets"]))
        return targets[rng.integers(0, len(targets), n)]
    if c.kind == "sequential":  # walks its blocks in time order
        blocks = valid_numbers(rng, p["blocks"]) // 10000
        order = np.argsort(t, kind="stable")
        seq = np.empty(n, dtype=np.int64)
        per = -(-n // len(blocks))
        idx = np.arange(n)
        seq[order] = blocks[idx // per] * 10000 + (int(rng.integers(0, 10000)) + idx % per) % 10000
        return e164(seq)
    return e164(valid_numbers(rng, n))


def _attest(
    view: str, cust: Customer, c: Component, caller: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The attestation the provider sees on each call: a gateway signs C what comes from
    abroad with a NANP caller ID; at a transit provider carriers' calls come signed A or B by
    their originating providers (a scam mixed in often is not: unsigned or C); an originating
    provider signs its direct customers A, its wholesale customers B."""
    n = len(caller)
    nanp = np.array([isinstance(x, str) and x.startswith("+1") for x in caller], dtype=bool)
    if view == "gateway":
        return np.where(nanp, "C", "").astype(object)
    p = c.params
    if "attest" not in p:  # drawn once per component, kept in its parameters
        if view == "wholesale":
            a = u(rng, 0.3, 0.8)
            weak = u(rng, 0.3, 0.7) if not c.legal and rng.random() < 0.5 else u(rng, 0, 0.1)
            p["attest"] = {"A": a * (1 - weak), "B": (1 - a) * (1 - weak), "": weak * 0.6,
                           "C": weak * 0.4}  # fmt: skip
        elif cust.role == "carrier":
            weak = u(rng, 0.3, 0.7) if not c.legal and rng.random() < 0.5 else 0.0
            p["attest"] = {"B": 1 - weak, "": weak}
        elif cust.role == "bad_actor":
            p["attest"] = {str(rng.choice(["A", "B"])): 1.0}
        else:
            p["attest"] = {"A": 1.0}
    levels = list(p["attest"])
    w = np.array([p["attest"][k] for k in levels], dtype=float)
    out = np.array(levels, dtype=object)[rng.choice(len(levels), size=n, p=w / w.sum())]
    return np.where(nanp, out, "").astype(object)


def _component_calls(
    view: str,
    cust: Customer,
    c: Component,
    ctx: _Ctx,
    rng: np.random.Generator,
    days: int,
) -> Calls:
    """One component's calls over the window."""
    weekly = np.array(c.params.get("weekly", (1, 1, 1, 1, 1, 0.5, 0.3)), dtype=float)
    expected = c.per_day * sum(weekly[(START.weekday() + d) % 7] for d in range(days))
    n = int(rng.poisson(expected))
    start = datetime(START.year, START.month, START.day, tzinfo=UTC).timestamp()
    t = call_times(rng, c, n, start, days, START.weekday())
    own = c.params.setdefault("blocks", thousand_blocks(rng, 1 + int(c.per_day // 3000)))
    called = _called(c, n, t, rng)
    caller, called = _callers(c, n, called, own, ctx, rng)
    disp, sip, dur = outcomes(rng, n, c.params)
    return Calls(t, caller, called, disp, sip, dur, _attest(view, cust, c, caller, rng))


@dataclass
class FamilyResult:
    out: str
    family: str
    role: str
    seed: int
    days: int
    scale: float
    provider: str
    customers: int
    calls: int
    illegal_calls: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def generate(
    out: Path, family: str, *, seed: int = 1, days: int | None = None, scale: float = 1.0
) -> FamilyResult:
    """Write one world of ``family`` into ``out`` (see the module docstring)."""
    f = get_family(family)
    days = days or f.days
    if not 0 < scale <= 10:
        raise InputError(f"--scale must be above 0 and at most 10 for a family world, not {scale}")
    customers = _customers(f, _rng(f.name, seed), scale)
    return write_world(out, customers, family=f, seed=seed, days=days, scale=scale)


def write_world(
    out: Path,
    customers: list[Customer],
    *,
    family: Family,
    seed: int = 1,
    days: int = 1,
    scale: float = 1.0,
) -> FamilyResult:
    """Generate the calls of ``customers`` (drawn by :func:`generate`, or made by hand with
    :func:`legal_component` / :func:`illegal_component`) as the provider of ``family.view``
    sees them, and write the world into ``out``."""
    if not 1 <= days <= 31:
        raise InputError(f"--days must be 1..31 for a family world, not {days}")
    f = family
    rng = _rng(f.name, seed, 1)
    ctx = _Ctx(
        dno=np.concatenate([e164(valid_numbers(rng, 40)), toll_free_numbers(rng, 10)]),
        popular=e164(valid_numbers(rng, 5)),
    )
    provider = {"gateway": "gw-under-test", "wholesale": "transit-under-test"}.get(
        f.view, "origin-under-test"
    )
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("t", "caller", "called", "disp", "sip",
                                                         "dur", "att", "up", "oid", "ill")}  # fmt: skip
    truth, parts = [], []
    for ci, cust in enumerate(customers):
        totals = {"calls": 0, "illegal": 0}
        for k, comp in enumerate(cust.components):
            calls = _component_calls(f.view, cust, comp, ctx, _rng(f.name, seed, ci, k), days)
            oid = str(uuid.UUID(bytes=_rng(f.name, seed, ci, k, 9).bytes(16), version=4))
            for key, arr in (("t", calls.t), ("caller", calls.caller), ("called", calls.called),
                             ("disp", calls.disposition), ("sip", calls.sip),
                             ("dur", calls.duration), ("att", calls.attest)):  # fmt: skip
                cols[key].append(arr)
            cols["up"].append(np.full(len(calls), cust.id, dtype=object))
            cols["oid"].append(np.where(calls.attest != "", oid, "").astype(object))
            cols["ill"].append(np.full(len(calls), not comp.legal))
            totals["calls"] += len(calls)
            totals["illegal"] += 0 if comp.legal else len(calls)
            parts.append(_component_row(cust, comp, len(calls)))
        truth.append(_truth_row(cust, totals, days))
    _write(Path(out), f, seed, days, scale, provider, customers, cols, truth, parts, ctx)
    return FamilyResult(
        str(out), f.name, f.role, seed, days, scale, provider, len(customers),
        sum(r["calls"] for r in truth), sum(r["illegal_calls"] for r in truth),
    )  # fmt: skip


def _component_row(cust: Customer, comp: Component, calls: int) -> dict[str, Any]:
    shown = {k: v for k, v in comp.params.items() if k not in ("profile", "blocks")}
    return {
        "customer": cust.id,
        "kind": comp.kind,
        "legal": str(comp.legal).lower(),
        "category": comp.category,
        "calls": calls,
        "params": json.dumps(shown, sort_keys=True, default=_plain),
    }


def _plain(x: Any) -> Any:
    return x.item() if hasattr(x, "item") else str(x)


def _truth_row(cust: Customer, totals: dict[str, int], days: int) -> dict[str, Any]:
    """A customer's truth: its illegal calls, their share, the categories of its illegal
    components (largest first) and whether it is in the issue's goal: illegal calls at least
    10 % of its calls or 300 a day, whichever is smaller."""
    calls, illegal = totals["calls"], totals["illegal"]
    bad = sorted((c for c in cust.components if not c.legal), key=lambda c: -c.per_day)
    traits: list[str] = []
    for c in bad:
        traits.append(c.category)
        style = c.params.get("style")
        if c.kind == "sequential":
            traits.append("spoofed_caller_id" if style == "neighbour" else "snowshoe")
        if c.kind == "tdos" and style == "impossible":
            traits.append("invalid_caller_id")
        if c.kind == "tollfree_invalid_mix":
            traits.append("invalid_caller_id")
    return {
        "id": cust.id,
        "kind": cust.kind,
        "role": cust.role,
        "calls": calls,
        "illegal_calls": illegal,
        "illegal_share": round(illegal / calls, 4) if calls else 0.0,
        "components": ";".join(c.kind for c in cust.components),
        "categories": ";".join(dict.fromkeys(traits)),
        "in_goal": str(bool(illegal) and illegal >= min(0.10 * calls, 300 * days)).lower(),
    }


def _write(
    out: Path,
    f: Family,
    seed: int,
    days: int,
    scale: float,
    provider: str,
    customers: list[Customer],
    cols: dict[str, list[np.ndarray]],
    truth: list[dict[str, Any]],
    parts: list[dict[str, Any]],
    ctx: _Ctx,
) -> None:
    for sub in ("cdrs", "customers", "truth"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    t = np.concatenate(cols["t"])
    order = np.lexsort((np.arange(len(t)), t))
    a = {k: np.concatenate(v)[order] for k, v in cols.items()}
    ts = np.floor(a["t"]).astype(np.int64).astype("datetime64[s]").astype(str)
    n = len(t)
    downstream = np.array(["term-a", "term-b", "transit-x"], dtype=object)
    table = pa.table(
        {
            "call_id": [f"{provider}-{i + 1}" for i in range(n)],
            "start": [f"{x}Z" for x in ts],
            "caller": pa.array(a["caller"].astype(str)),
            "called": pa.array(a["called"].astype(str)),
            "upstream": pa.array(a["up"].astype(str)),
            "downstream": pa.array(downstream[np.arange(n) % 3].astype(str)),
            "duration": pa.array(a["dur"].astype(np.int64)),
            "disposition": pa.array(a["disp"].astype(str)),
            "sip_code": pa.array(a["sip"].astype(np.int64)),
            "attest": pa.array(a["att"].astype(str)),
            "orig_id": pa.array(a["oid"].astype(str)),
        }
    )
    pacsv.write_csv(
        table, out / "cdrs" / f"{provider}.csv", pacsv.WriteOptions(quoting_style="needed")
    )
    with (out / "customers" / f"{provider}.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "name", "kind", "country", "onboarded", "rmd_id", "notes"])
        for k, c in enumerate(customers):
            ago = 20 + (k * 7) % 60 if c.recent else 200 + (k * 37) % 1500
            w.writerow([c.id, c.name, c.kind, c.country,
                        (START - timedelta(days=ago)).isoformat(), "", c.role])  # fmt: skip
    _csv(out / "truth" / "customers.csv", truth)
    _csv(out / "truth" / "components.csv", parts)
    _csv(out / "dno.csv", [{"number": x} for x in ctx.dno])
    info = {
        "generator": "families",
        "generator_version": GENERATOR_VERSION,
        "family": f.name,
        "role": f.role,
        "view": f.view,
        "seed": seed,
        "days": days,
        "scale": scale,
        "start": START.isoformat(),
        "provider": provider,
        "customers": len(customers),
        "calls": n,
        "illegal_calls": int(a["ill"].sum()),
    }
    (out / "world.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def _csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as fh:
        if not rows:
            return
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
