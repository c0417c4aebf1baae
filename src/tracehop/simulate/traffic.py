"""Calls, vectorised: one time slice of a day at a time, as numpy arrays (no loop per call).

Each slice draws, per source, a Poisson number of calls from the source's hourly and weekly
profile, then every call's caller ID, called number, outcome, durations and path through the
network. A slice has its own random stream (seeded by ``[seed, day, slice]``), so the output
depends only on the seed and the knobs, never on the order the work is done in; slices are
small enough (``Scenario.chunk_calls``) that ``--scale 50`` fits in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracehop.simulate.model import NPAS, World
from tracehop.simulate.scenarios import CALLED_STRATEGIES, CLI_STRATEGIES, SIGNINGS

# Disposition codes used in the arrays (the writers map them to each switch's words).
ANSWERED, NO_ANSWER, BUSY, CANCELLED, FAILED = range(5)
DISPOSITIONS = ("answered", "no_answer", "busy", "cancelled", "failed")
MAX_PATH = 7
SLICES_PER_DAY = (1, 2, 3, 4, 6, 8, 12, 24, 48, 96, 192, 288, 576, 1440)
# Seconds between one provider's INVITE and the next provider's (post-dial delay per hop).
HOP_DELAY = 0.2


@dataclass
class SourceArrays:
    """The sources of a world as columns, for fancy indexing by a call's source."""

    customer: np.ndarray
    provider: np.ndarray
    campaign: np.ndarray  # index into World.scenario.campaigns, -1 legal
    informational: np.ndarray
    cli: np.ndarray
    called: np.ndarray
    thresholds: np.ndarray  # S x 4 cumulative: answer, +busy, +cancel, +failed
    dur_mu: np.ndarray
    dur_sigma: np.ndarray
    hangup: np.ndarray
    ring_min: np.ndarray
    ring_max: np.ndarray
    pool_off: np.ndarray
    pool_len: np.ndarray
    target_off: np.ndarray
    target_len: np.ndarray
    attest: np.ndarray
    oid: np.ndarray
    cnam: np.ndarray
    foreign_entry: np.ndarray
    signing: np.ndarray  # index into scenarios.SIGNINGS


def source_arrays(world: World) -> SourceArrays:
    src = world.sources
    kinds = [c.kind for c in world.scenario.campaigns]
    th = np.cumsum([[s.answer, s.busy, s.cancel, s.failed] for s in src], axis=1)
    return SourceArrays(
        customer=np.array([s.customer for s in src], dtype=np.int32),
        provider=np.array([s.provider for s in src], dtype=np.int16),
        campaign=np.array([kinds.index(s.campaign) if s.campaign else -1 for s in src]),
        informational=np.array([s.role == "informational" for s in src]),
        cli=np.array([CLI_STRATEGIES.index(s.cli) for s in src], dtype=np.int8),
        called=np.array([CALLED_STRATEGIES.index(s.called) for s in src], dtype=np.int8),
        thresholds=th,
        dur_mu=np.log([s.dur_median for s in src]),
        dur_sigma=np.array([s.dur_sigma for s in src]),
        hangup=np.array([s.hangup for s in src]),
        ring_min=np.array([s.ring_min for s in src]),
        ring_max=np.array([s.ring_max for s in src]),
        pool_off=np.array([s.pool[0] for s in src], dtype=np.int64),
        pool_len=np.array([s.pool[1] for s in src], dtype=np.int64),
        target_off=np.array([s.targets[0] for s in src], dtype=np.int64),
        target_len=np.array([s.targets[1] for s in src], dtype=np.int64),
        attest=np.array([s.attest for s in src], dtype=np.int8),
        oid=np.array([s.oid for s in src], dtype=np.int32),
        cnam=np.array([s.cnam for s in src], dtype=np.int16),
        foreign_entry=np.array([world.providers[s.provider].kind == "foreign" for s in src]),
        signing=np.array([s.signing for s in src], dtype=np.int8),
    )


@dataclass
class DayPlan:
    """Expected calls per source and UTC hour for one day, and how to slice the day."""

    day: int
    expected: np.ndarray  # S x 24
    slices: int

    @property
    def total(self) -> float:
        return float(self.expected.sum())


def plan_day(world: World, day: int, weekday: int, scale: float) -> DayPlan:
    rng = np.random.default_rng(np.random.SeedSequence([world.seed, 2, day]))
    share = np.array([s.active_share for s in world.sources])
    active = (rng.random(len(share)) < share) | (day == 0)
    per_day = np.array([s.per_day * s.weekly[weekday] for s in world.sources]) * scale * active
    expected = per_day[:, None] * np.stack([s.profile for s in world.sources])
    total = expected.sum()
    slices = next(
        (m for m in SLICES_PER_DAY if total / m <= world.scenario.chunk_calls), SLICES_PER_DAY[-1]
    )
    return DayPlan(day=day, expected=expected, slices=slices)


@dataclass
class Calls:
    """One slice's calls, sorted by start time."""

    t: np.ndarray  # float epoch seconds of the first INVITE
    src: np.ndarray
    cl_num: np.ndarray  # caller ID digits
    cl_len: np.ndarray  # caller ID length in digits (10 for NANP national numbers)
    cl_intl: np.ndarray  # international (digits start with the country code)
    called: np.ndarray  # 10-digit NANP national number
    disp: np.ndarray
    ring: np.ndarray  # seconds from INVITE to answer (or to the final failure)
    dur: np.ndarray  # answered seconds (0 if not answered)
    path: np.ndarray  # n x MAX_PATH provider indices, -1 padded; last = terminating
    nhops: np.ndarray
    attest: np.ndarray  # as signed for the US part of the path (0 none, 1 A, 2 B, 3 C)
    oid: np.ndarray

    def __len__(self) -> int:
        return len(self.t)


def slice_calls(world: World, sa: SourceArrays, plan: DayPlan, k: int, day_start: float) -> Calls:
    """Generate slice ``k`` of ``plan.slices`` of the day starting at ``day_start`` (epoch)."""
    rng = np.random.default_rng(np.random.SeedSequence([world.seed, 3, plan.day, k]))
    length = 86400 / plan.slices
    lo = k * length
    if length >= 3600:
        hours = np.arange(int(lo // 3600), int((lo + length) // 3600))
        exp = plan.expected[:, hours]
    else:
        hours = np.array([int(lo // 3600)])
        exp = plan.expected[:, hours] * (length / 3600)
    counts = rng.poisson(exp.sum(axis=1))
    src = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    n = len(src)
    if length >= 3600:
        w = exp / np.maximum(exp.sum(axis=1, keepdims=True), 1e-300)
        cum = np.cumsum(w, axis=1)
        h = (rng.random(n)[:, None] > cum[src]).sum(axis=1)
        h = np.minimum(h, len(hours) - 1)
        t = day_start + (hours[h] * 3600.0) + rng.random(n) * 3600.0
    else:
        t = day_start + lo + rng.random(n) * length
    order = np.argsort(t, kind="stable")
    t, src = t[order], src[order]

    called = _called(world, sa, src, rng)
    cl_num, cl_len, cl_intl = _caller(world, sa, src, called, rng)
    disp, ring, dur = _outcome(sa, src, rng)
    path, nhops = _paths(world, sa, src, called, rng)
    entry = path[:, 0]
    foreign = sa.foreign_entry[src]
    oid = sa.oid[src].copy()
    attest = sa.attest[src].copy()
    if foreign.any():  # unsigned abroad; the gateway (second provider) signs C
        attest[foreign] = 3
        oid[foreign] = world.ingress_oid[path[foreign, 1], entry[foreign]]
    unsigned = sa.signing[src] == SIGNINGS.index("none")
    if unsigned.any():  # no Identity header: nothing attested either
        attest[unsigned], oid[unsigned] = 0, -1
    return Calls(
        t=t,
        src=src,
        cl_num=cl_num,
        cl_len=cl_len,
        cl_intl=cl_intl,
        called=called,
        disp=disp,
        ring=ring,
        dur=dur,
        path=path,
        nhops=nhops,
        attest=attest,
        oid=oid,
    )


def _random_subscribers(world: World, n: int, rng: np.random.Generator) -> np.ndarray:
    blocks = world.sub_blocks[rng.integers(0, len(world.sub_blocks), n)]
    return blocks * 10000 + rng.integers(0, 10000, n)


def _called(
    world: World, sa: SourceArrays, src: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    n = len(src)
    called = _random_subscribers(world, n, rng)
    # Residential calls leave their own network (on-net calls never reach other providers).
    owner = world.owner[called // 10000]
    same = owner == sa.provider[src]
    if same.any():  # blocks of one provider are contiguous: skip past its own range
        p = sa.provider[src[same]]
        total = len(world.sub_blocks)
        start, count = world.sub_block_start[p], world.sub_block_count[p]
        r = rng.integers(0, 1 << 30, len(p)) % (total - count)
        blocks = world.sub_blocks[(start + count + r) % total]
        called[same] = blocks * 10000 + rng.integers(0, 10000, len(p))
    kind = sa.called[src]
    tgt = kind == CALLED_STRATEGIES.index("targets")
    if tgt.any():
        pick = rng.integers(0, 1 << 30, int(tgt.sum())) % sa.target_len[src[tgt]]
        called[tgt] = world.targets[sa.target_off[src[tgt]] + pick]
    seq = kind == CALLED_STRATEGIES.index("sequential")
    for s in np.unique(src[seq]):
        idx = np.nonzero(src == s)[0]  # already in time order
        block = world.sub_blocks[int(rng.integers(0, len(world.sub_blocks)))]
        first = int(rng.integers(0, 10000))
        called[idx] = block * 10000 + (first + np.arange(len(idx))) % 10000
    return called


def _caller(
    world: World, sa: SourceArrays, src: np.ndarray, called: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(src)
    cli = sa.cli[src]
    num = np.zeros(n, dtype=np.int64)
    length = np.full(n, 10, dtype=np.int8)
    intl = np.zeros(n, dtype=bool)
    code = {name: i for i, name in enumerate(CLI_STRATEGIES)}
    pooled = np.isin(cli, [code["own"], code["rotation"], code["toll_free"], code["intl_premium"]])
    if pooled.any():
        s = src[pooled]
        pick = sa.pool_off[s] + rng.integers(0, 1 << 30, len(s)) % np.maximum(sa.pool_len[s], 1)
        num[pooled] = world.pool_num[pick]
        length[pooled] = world.pool_len[pick]
        intl[pooled] = world.pool_intl[pick]
    m = cli == code["subscriber"]
    if m.any():  # a residential line's own number, in its provider's blocks
        p = sa.provider[src[m]]
        b = world.sub_block_start[p] + rng.integers(0, 1 << 30, len(p)) % world.sub_block_count[p]
        num[m] = world.sub_blocks[b] * 10000 + rng.integers(0, 10000, len(p))
    m = cli == code["random"]
    if m.any():
        k = int(m.sum())
        npa = np.array(NPAS, dtype=np.int64)[rng.integers(0, len(NPAS), k)]
        nxx = rng.integers(200, 1000, k)
        nxx = np.where((nxx % 100 == 11) | (nxx == 555), nxx + 1, nxx)
        num[m] = (npa * 1000 + nxx) * 10000 + rng.integers(0, 10000, k)
    m = cli == code["neighbour"]
    if m.any():  # same NPA-NXX as the called number: looks local
        num[m] = (called[m] // 10000) * 10000 + rng.integers(0, 10000, int(m.sum()))
    m = cli == code["invalid"]
    if m.any():
        k = int(m.sum())
        how = rng.integers(0, 5, k)
        npa = np.array(NPAS, dtype=np.int64)[rng.integers(0, len(NPAS), k)]
        line = rng.integers(0, 10000, k)
        bad = np.select(
            [how == 0, how == 1, how == 2, how == 3],
            [
                (rng.integers(0, 200, k) * 1000 + rng.integers(200, 1000, k)) * 10000
                + line,  # 0XX/1XX area code
                (npa * 1000 + rng.integers(2, 10, k) * 100 + 11) * 10000 + line,  # N11 exchange
                (npa * 1000 + 555) * 10000 + 100 + rng.integers(0, 100, k),  # 555-01XX fictional
                called[m],  # the called number itself
            ],
            default=(npa * 1000 + rng.integers(200, 1000, k)) * 1000 + line % 1000,  # 9 digits
        )
        num[m] = bad
        length[m] = np.where(how == 4, 9, 10)
    return num, length, intl


def _outcome(
    sa: SourceArrays, src: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(src)
    u = rng.random(n)
    th = sa.thresholds[src]
    disp = np.select(
        [u < th[:, 0], u < th[:, 1], u < th[:, 2], u < th[:, 3]],
        [ANSWERED, BUSY, CANCELLED, FAILED],
        default=NO_ANSWER,
    ).astype(np.int8)
    z = rng.standard_normal(n)
    dur = np.ceil(np.exp(sa.dur_mu[src] + sa.dur_sigma[src] * z)).clip(1, 3600).astype(np.int32)
    # Hung up on (or silent) within 1-9 s: the position of an answered call's own draw u
    # inside the answer rate is uniform and independent of z, so no draw is added and every
    # other column of the world stays as it was.
    hangup = sa.hangup[src]
    if hangup.any():
        v = u / np.maximum(th[:, 0], 1e-12)
        hung = (disp == ANSWERED) & (v < hangup)
        dur[hung] = 1 + np.floor(v[hung] / hangup[hung] * 9).astype(np.int32)
    dur[disp != ANSWERED] = 0
    r = rng.random(n)
    ring_rng = sa.ring_min[src] + r * (sa.ring_max[src] - sa.ring_min[src])
    ring = np.select(
        [disp == NO_ANSWER, disp == BUSY, disp == FAILED],
        [20 + r * 25, r * 2, r],
        default=ring_rng,
    )
    return disp, np.round(ring).astype(np.int32), dur


def _paths(
    world: World, sa: SourceArrays, src: np.ndarray, called: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Walk each call through the route tables: entry, 1..max_transit transits, terminating."""
    n = len(src)
    P = world.n_providers
    max_transit = world.scenario.max_transit
    path = np.full((n, MAX_PATH), -1, dtype=np.int16)
    cur = sa.provider[src].astype(np.int64)
    path[:, 0] = cur
    cum = world.route_cum
    # The first step never exits: every call crosses at least one transit provider.
    w = np.diff(np.concatenate([np.zeros((P, 1)), cum], axis=1))[:, :P]
    cum_first = np.cumsum(w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300), axis=1)
    alive = np.ones(n, dtype=bool)
    for step in range(1, max_transit + 1):
        u = rng.random(n)
        table = cum_first if step == 1 else cum
        nxt = (u[:, None] > table[cur]).sum(axis=1)
        if step == 1:
            nxt = np.minimum(nxt, P - 1)
        moving = alive & (nxt < P)
        path[moving, step] = nxt[moving]
        cur = np.where(moving, nxt, cur)
        alive = moving
    transits = (path[:, 1:] >= 0).sum(axis=1)
    term = world.owner[called // 10000]
    path[np.arange(n), transits + 1] = term
    return path, (transits + 2).astype(np.int8)


def explode_hops(
    world: World,
    sa: SourceArrays,
    calls: Calls,
    first_seq: int,
    identity: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """One row per provider per call: what each provider's switch saw of it. ``identity``:
    each call's Identity header (object array, "" unsigned), in the rows of the provider that
    signed it (STI-AS) and of the terminating provider (which verifies it, STI-VS): the
    providers between pass the header on without logging it."""
    n = len(calls)
    seq = first_seq + np.arange(n, dtype=np.int64)
    skew = np.array([p.skew for p in world.providers])
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("call", "hop", "prov", "t", "up", "down", "att", "oid", "ci", "ident")
    }
    if identity is None:
        identity = np.full(n, "", dtype=object)
    for h in range(int(calls.nhops.max(initial=0))):
        ci = np.nonzero(calls.nhops > h)[0]
        prov = calls.path[ci, h].astype(np.int64)
        last = calls.nhops[ci] - 1 == h
        up = sa.customer[calls.src[ci]] if h == 0 else calls.path[ci, h - 1].astype(np.int32)
        down = np.where(last, -1, calls.path[ci, min(h + 1, MAX_PATH - 1)])
        unsigned = (h == 0) & sa.foreign_entry[calls.src[ci]]
        cols["call"].append(seq[ci])
        cols["hop"].append(np.full(len(ci), h, dtype=np.int8))
        cols["prov"].append(prov.astype(np.int16))
        cols["t"].append(np.floor(calls.t[ci] + HOP_DELAY * h + skew[prov]).astype(np.int64))
        cols["up"].append(up.astype(np.int32))
        cols["down"].append(down.astype(np.int32))
        cols["att"].append(np.where(unsigned, 0, calls.attest[ci]).astype(np.int8))
        cols["oid"].append(np.where(unsigned, -1, calls.oid[ci]).astype(np.int32))
        signer_hop = sa.foreign_entry[calls.src[ci]].astype(np.int64)  # abroad: the gateway
        cols["ident"].append(np.where((h == signer_hop) | last, identity[ci], ""))
        cols["ci"].append(ci)
    out = {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in cols.items()}
    ci = out.pop("ci")
    fmt_code = np.array(
        [
            ("generic", "freeswitch", "asterisk", "kamailio").index(p.cdr_format)
            for p in world.providers
        ],
        dtype=np.int8,
    )
    out.update(
        fmt=fmt_code[out["prov"]] if len(ci) else np.zeros(0, np.int8),
        ring=calls.ring[ci],
        dur=calls.dur[ci],
        disp=calls.disp[ci],
        cln=calls.cl_num[ci],
        cll=calls.cl_len[ci],
        cli=calls.cl_intl[ci],
        cd=calls.called[ci],
        cnam=sa.cnam[calls.src[ci]],
        tc=calls.t[ci],
        src=calls.src[ci],
    )
    return out
