"""Traffic components of the second world generator (``families.py``): one stream of calls of
one kind (a consented call center, a school notification blast, a snowshoe robocall
campaign...), drawn with wide random parameters and generated as numpy columns.

This generator shares nothing with the network simulator (``world.py``, ``traffic.py``) but
the number tables of ``model.py``: its worlds are one provider's view (its customers and the
calls they send it), its parameters are drawn per component from ranges, and every call's
caller ID, called number, time, outcome, answered duration and attestation follow the
component's kind. What each kind is, and where its ranges come from, is in
docs/simulator.md ("Families").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracehop.simulate.model import NPAS, PREMIUM_RANGES, TOLL_FREE_NPAS

# Dispositions and their SIP codes as the generic CDR layout writes them.
DISPOSITIONS = ("answered", "no_answer", "busy", "cancelled", "failed")
SIP = {"answered": 200, "no_answer": 480, "busy": 486, "cancelled": 487, "failed": 503}
REFUSED_SIP = (607, 608)  # refused downstream as unwanted (RFC 8197, RFC 8688)
# US time zones in winter (hours from UTC): the callees' local time shapes the day.
TIME_ZONES = {"ET": -5, "CT": -6, "MT": -7, "PT": -8}
_NXX = np.array([x for x in range(200, 1000) if x % 100 != 11 and x != 555], dtype=np.int64)
_NPA = np.array(NPAS, dtype=np.int64)

# The kind of every component, legal or not, and the category detection should name first
# for an illegal one (docs/detection.md, "Categories").
LEGAL_KINDS = (
    "conversational",
    "call_center",
    "reminders",
    "school_blast",
    "political_blast",
)
ILLEGAL_KINDS = {
    "imposter_tollfree": "imposter",
    "tollfree_invalid_mix": "imposter",
    "dno_imposter": "imposter",
    "impossible_cli": "invalid_caller_id",
    "neighbour_spoof": "spoofed_caller_id",
    "snowshoe": "snowshoe",
    "one_ring": "one_ring",
    "tdos": "tdos",
    "sequential": "sequential_dialling",
    "steady_robocall": "unknown_robocall_campaign",
}


@dataclass
class Component:
    """One stream of calls from one customer: its kind, volume and drawn parameters."""

    kind: str
    per_day: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def legal(self) -> bool:
        return self.kind in LEGAL_KINDS

    @property
    def category(self) -> str:
        return ILLEGAL_KINDS.get(self.kind, "")


@dataclass
class Calls:
    """Generated calls as columns (times in epoch seconds)."""

    t: np.ndarray
    caller: np.ndarray  # object: E.164 or raw digits
    called: np.ndarray  # object: E.164
    disposition: np.ndarray  # object
    sip: np.ndarray
    duration: np.ndarray
    attest: np.ndarray  # object: A, B, C or ""

    def __len__(self) -> int:
        return len(self.t)


def u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def log_u(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Log-uniform: sizes that span orders of magnitude."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


# --- time of day ------------------------------------------------------------------------------


def local_profile(kind: str, rng: np.random.Generator) -> np.ndarray:
    """Weights of the 24 local hours for a component kind (TCPA calling hours 8 a.m.-9 p.m.
    local for telemarketing: 47 CFR 64.1200(c)(1))."""
    h = np.arange(24)
    if kind in ("conversational",):
        w = np.interp(h, [0, 6, 9, 12, 17, 20, 23], [0.1, 0.05, 0.7, 1.0, 1.0, 0.7, 0.25])
    elif kind in ("call_center", "steady_robocall", "snowshoe", "imposter_tollfree",
                  "tollfree_invalid_mix", "dno_imposter", "impossible_cli", "neighbour_spoof",
                  "sequential"):  # fmt: skip
        start, end = int(rng.integers(8, 11)), int(rng.integers(17, 22))
        w = np.where((h >= start) & (h < end), 1.0, 0.01)
    elif kind == "reminders":
        w = np.where((h >= 7) & (h < 10), 1.0, 0.0) + np.where((h >= 16) & (h < 19), 0.7, 0.0)
        w = w + 0.005
    elif kind in ("school_blast", "political_blast", "tdos"):
        w = np.full(24, 0.0)  # bursts: set by the caller (burst_hours)
    elif kind == "one_ring":  # night and evening waves
        w = np.interp(h, [0, 3, 6, 12, 18, 21, 23], [1.0, 0.8, 0.3, 0.1, 0.4, 0.9, 1.0])
    else:
        raise ValueError(kind)
    return w


def call_times(
    rng: np.random.Generator,
    c: Component,
    n: int,
    start: float,
    days: int,
    weekday0: int,
) -> np.ndarray:
    """``n`` call times over ``days`` days from ``start`` (UTC midnight of a weekday
    ``weekday0``), by the component's local-time profile in its callees' time zone, its weekly
    shape, and its bursts (blasts, floods: a few minutes to two hours)."""
    tz = TIME_ZONES[c.params.get("tz", "ET")]
    weekly = np.array(c.params.get("weekly", (1, 1, 1, 1, 1, 0.5, 0.3)), dtype=float)
    day_w = np.array([weekly[(weekday0 + d) % 7] for d in range(days)])
    day = rng.choice(days, size=n, p=day_w / day_w.sum()) if n else np.zeros(0, int)
    bursts = c.params.get("bursts")
    if bursts:  # (local start hour, minutes)
        k = rng.integers(0, len(bursts), n)
        b_start = np.array([b[0] for b in bursts], dtype=float)[k] * 3600
        b_len = np.array([b[1] for b in bursts], dtype=float)[k] * 60
        local = b_start + rng.random(n) * b_len
    else:
        w = c.params["profile"]
        hour = rng.choice(24, size=n, p=w / w.sum()) if n else np.zeros(0, int)
        local = hour * 3600.0 + rng.random(n) * 3600.0
    return start + day * 86400.0 + local - tz * 3600.0


# --- numbers ----------------------------------------------------------------------------------


def valid_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random valid NANP national numbers (10 digits as int)."""
    return (_NPA[rng.integers(0, len(_NPA), n)] * 1000 + _NXX[rng.integers(0, len(_NXX), n)]) * (
        10000
    ) + rng.integers(0, 10000, n)


def block_numbers(rng: np.random.Generator, blocks: np.ndarray, n: int) -> np.ndarray:
    """``n`` numbers inside the given thousands-blocks (NPA-NXX-X, 7 digits)."""
    return blocks[rng.integers(0, len(blocks), n)] * 1000 + rng.integers(0, 1000, n)


def thousand_blocks(rng: np.random.Generator, k: int) -> np.ndarray:
    """``k`` random thousands-blocks NPA-NXX-X (a provider's or a customer's own numbers)."""
    return (valid_numbers(rng, k) // 1000).astype(np.int64)


def e164(national: np.ndarray) -> np.ndarray:
    return np.array([f"+1{x:010d}" for x in national], dtype=object)


def impossible_numbers(rng: np.random.Generator, n: int, called: np.ndarray) -> np.ndarray:
    """Caller IDs that cannot be real: 0XX/1XX area code, N11 exchange, 555-01XX, the called
    number itself, 9 digits, an unassigned area code (E.164 strings or raw digits)."""
    how = rng.integers(0, 6, n)
    npa = _NPA[rng.integers(0, len(_NPA), n)]
    line = rng.integers(0, 10000, n)
    out = np.empty(n, dtype=object)
    for i in range(n):
        h = int(how[i])
        if h == 0:
            out[i] = f"+1{int(rng.integers(0, 200)):03d}{int(rng.integers(200, 1000))}{line[i]:04d}"
        elif h == 1:
            out[i] = f"+1{npa[i]}{int(rng.integers(2, 10))}11{line[i]:04d}"
        elif h == 2:
            out[i] = f"+1{npa[i]}5550{100 + int(rng.integers(0, 100))}"
        elif h == 3:
            out[i] = called[i]
        elif h == 4:
            out[i] = f"{npa[i]}{int(rng.integers(200, 1000))}{line[i] % 1000:03d}"
        else:  # unassigned (N9X is never assigned)
            out[i] = f"+1{int(rng.integers(2, 10))}9{int(rng.integers(0, 10))}"
            out[i] += f"{int(rng.integers(200, 1000))}{line[i]:04d}"
    return out


def toll_free_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    npa = np.array(TOLL_FREE_NPAS)[rng.integers(0, len(TOLL_FREE_NPAS), n)]
    nxx = _NXX[rng.integers(0, len(_NXX), n)]
    return e164((npa * 1000 + nxx) * 10000 + rng.integers(0, 10000, n))


def premium_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    for i in range(n):
        pre, length = PREMIUM_RANGES[int(rng.integers(0, len(PREMIUM_RANGES)))]
        rest = length - len(pre)
        out[i] = f"+{pre}{int(rng.integers(0, 10**rest)):0{rest}d}"
    return out


def pool(rng: np.random.Generator, values: np.ndarray, n: int, reuse: float) -> np.ndarray:
    """``n`` caller IDs drawn from ``values`` with replacement; ``reuse``: a Zipf-like
    tilt (0 uniform) so that some lines are used much more than others."""
    if len(values) == 0:
        return np.empty(0, dtype=object)
    if reuse <= 0:
        return values[rng.integers(0, len(values), n)]
    w = 1.0 / np.arange(1, len(values) + 1) ** reuse
    return values[rng.choice(len(values), size=n, p=w / w.sum())]


# --- outcomes and answered durations ----------------------------------------------------------


def outcomes(
    rng: np.random.Generator, n: int, p: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dispositions, SIP codes and answered seconds. ``p``: ``asr``; the unanswered split
    (``busy``, ``cancel``, ``fail`` shares of the unanswered, ``refused`` of the failed:
    607/608); the answered shape: ``early`` share hung up (or silent) within 1-9 s, ``amd``
    share dropped by a dialer's answering-machine detection within 1-6 s, ``transfer`` share
    (press 1, to a live agent) of log-normal median ``transfer_median``, the rest log-normal
    of median ``median`` and spread ``sigma``."""
    r = rng.random(n)
    asr = p["asr"]
    rest = (r - asr) / max(1e-9, 1 - asr)
    busy, cancel, fail = p.get("busy", 0.08), p.get("cancel", 0.15), p.get("fail", 0.07)
    disp = np.select(
        [r < asr, rest < busy, rest < busy + cancel, rest < busy + cancel + fail],
        ["answered", "busy", "cancelled", "failed"],
        default="no_answer",
    ).astype(object)
    sip = np.array([SIP[d] for d in disp], dtype=np.int32)
    failed = disp == "failed"
    refused = failed & (rng.random(n) < p.get("refused", 0.0))
    sip[refused] = rng.choice(REFUSED_SIP, size=int(refused.sum()))
    v = rng.random(n)
    z = rng.standard_normal(n)
    dur = np.ceil(np.exp(np.log(p["median"]) + p.get("sigma", 0.8) * z))
    early, amd, transfer = p.get("early", 0.0), p.get("amd", 0.0), p.get("transfer", 0.0)
    dur = np.where(v < early, 1 + np.floor(rng.random(n) * 9), dur)
    dur = np.where((v >= early) & (v < early + amd), 1 + np.floor(rng.random(n) * 6), dur)
    t_med = np.log(p.get("transfer_median", 180.0))
    lo = early + amd
    dur = np.where((v >= lo) & (v < lo + transfer), np.ceil(np.exp(t_med + 0.7 * z)), dur)
    dur = np.where(disp == "answered", np.clip(dur, 1, 3600), 0).astype(np.int32)
    return disp, sip, dur
