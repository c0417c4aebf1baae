"""Complaints and honeypot hits, and the correct hop-by-hop traceback answer for each.

A traceback hub starts from what a consumer or a honeypot reports: the caller ID as it was
displayed, the called number, the time (to the minute, or only the date) and a description.
For every report the simulator also writes what each provider on the path would answer
(DOMAIN.md, "One traceback hop: the four answers"), walking back from the terminating
provider: ``received_from`` a provider in the consortium (the trace continues there),
``provider_not_listed`` (an upstream the consortium does not know: a foreign or unlisted
carrier; the trace ends), ``origin`` (the provider's own customer placed the call) or
``not_found`` (no record matches, e.g. the consumer mistyped the caller ID).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from tracehop.simulate.model import World
from tracehop.simulate.traffic import ANSWERED, CANCELLED, Calls, SourceArrays

COMPLAINT_HEADER = [
    "complaint_id",
    "source",
    "caller_id",
    "called",
    "date",
    "time_utc",
    "description",
]
TRUTH_HEADER = [
    "complaint_id",
    "call",
    "campaign",
    "illegal",
    "outcome",
    "outcome_provider",
    "outcome_customer",
    "true_provider",
    "true_customer",
    "hops",
]
HOPS_HEADER = ["complaint_id", "hop", "provider", "answer", "named", "responsive"]
LEGAL_COMPLAINT = "Automated call about an appointment I did not ask for"


@dataclass
class ComplaintLog:
    """Rows collected slice by slice (a few per thousand illegal calls: small)."""

    complaints: list[list[object]] = field(default_factory=list)
    truth: list[list[object]] = field(default_factory=list)
    hops: list[list[object]] = field(default_factory=list)


def _display(num: int, length: int, intl: bool, exact: bool) -> str:
    digits = str(num).rjust(length, "0")
    if intl:
        return "+" + digits
    if length != 10:
        return digits
    if exact:  # honeypots log the number as signalled
        return "+1" + digits
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def trace_answers(world: World, path: list[int], customer_idx: int) -> list[tuple[int, str, str]]:
    """(provider, answer, named) for each hop, from the terminating provider back."""
    out: list[tuple[int, str, str]] = []
    providers = world.providers
    for j in range(len(path) - 1, -1, -1):
        p = path[j]
        if j == 0:
            c = world.customer_by_idx(customer_idx)
            answer = "provider_not_listed" if c.kind == "carrier" else "origin"
            out.append((p, answer, c.id))
            break
        q = path[j - 1]
        if providers[q].in_consortium:
            out.append((p, "received_from", providers[q].id))
            continue
        out.append((p, "provider_not_listed", providers[q].id))
        break
    return out


def outcome(world: World, answers: list[tuple[int, str, str]]) -> tuple[str, str, str]:
    """What the hub ends with: (outcome, provider, customer or provider named)."""
    for p, answer, named in answers:
        prov = world.providers[p]
        if not prov.responsive:
            return "no_response", prov.id, ""
        if answer == "origin":
            return "origin", prov.id, named
        if answer == "not_found":
            return "not_found", prov.id, ""
        if answer == "provider_not_listed":
            known = {x.id: x for x in world.providers}
            if named in known:
                country = known[named].country
            else:
                country = next(c.country for c in world.customers if c.id == named)
            return ("foreign_entry" if country != "US" else "not_listed"), prov.id, named
    return "not_found", "", ""


def collect(
    world: World,
    sa: SourceArrays,
    calls: Calls,
    first_seq: int,
    rng: np.random.Generator,
    log: ComplaintLog,
) -> None:
    """Pick this slice's reported calls and append their complaint and truth rows."""
    sc = world.scenario
    n = len(calls)
    if n == 0:
        return
    campaign = sa.campaign[calls.src]
    illegal = campaign >= 0
    block = calls.called // 10000
    honeypot = illegal & (block % 8 == 0) & (calls.called % 10000 >= 10000 - world.honeypot_lines)
    u = rng.random(n)
    noticed = (calls.disp == ANSWERED) | (calls.disp == CANCELLED)
    consumer = illegal & noticed & ~honeypot & (u < sc.consumer_complaint_rate)
    legal = sa.informational[calls.src] & (calls.disp == ANSWERED) & (u < sc.legal_complaint_rate)
    picked = np.nonzero(honeypot | consumer | legal)[0]
    draws = rng.random((len(picked), 4))
    kinds = [c.kind for c in sc.campaigns]
    for k, i in enumerate(picked):
        i = int(i)
        cid = f"C{len(log.complaints) + 1:06d}"
        src = int(calls.src[i])
        source = "honeypot" if honeypot[i] else "consumer"
        when = datetime.fromtimestamp(float(calls.t[i]), UTC)
        misreport = source == "consumer" and draws[k, 0] < sc.misreport_rate
        date_only = source == "consumer" and draws[k, 1] < 0.35
        num, length, intl = int(calls.cl_num[i]), int(calls.cl_len[i]), bool(calls.cl_intl[i])
        if misreport:  # one digit wrong: no provider finds the call
            num = num - num % 10 + (num % 10 + 1 + int(draws[k, 2] * 8)) % 10
        if campaign[i] >= 0:
            spec = sc.campaigns[int(campaign[i])]
            text = (
                spec.complaint[int(draws[k, 3] * len(spec.complaint))]
                if spec.complaint
                else spec.description
            )
            kind = kinds[int(campaign[i])]
        else:
            text, kind = LEGAL_COMPLAINT, ""
        log.complaints.append(
            [
                cid,
                source,
                _display(num, length, intl, source == "honeypot"),
                str(int(calls.called[i])),
                when.strftime("%Y-%m-%d"),
                "" if date_only else when.strftime("%H:%M"),
                text,
            ]
        )
        path = [int(x) for x in calls.path[i, : int(calls.nhops[i])]]
        customer = world.customer_by_idx(int(sa.customer[src]))
        if misreport:
            answers = [(path[-1], "not_found", "")]
        else:
            answers = trace_answers(world, path, int(sa.customer[src]))
        end, end_provider, end_named = outcome(world, answers)
        log.truth.append(
            [
                cid,
                first_seq + i,
                kind,
                str(campaign[i] >= 0).lower(),
                end,
                end_provider,
                end_named,
                world.providers[path[0]].id,
                customer.id,
                len(answers),
            ]
        )
        for h, (p, answer, named) in enumerate(answers, start=1):
            prov = world.providers[p]
            log.hops.append([cid, h, prov.id, answer, named, str(prov.responsive).lower()])
