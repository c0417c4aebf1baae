"""The detection rules as data: what each one looks at, the category it names, its thresholds
and the published practice it rests on (``SOURCES``; docs/detection.md, "Rules and their
sources"). ``scoring.py`` applies them.

Three kinds of subject:

- ``CUSTOMER_RULES`` look at a customer's indicators (``indicators.py``): floods on a few
  numbers, dialling in sequence, failed verification, traceback and complaint history;
- ``SEGMENT_RULES`` look at one segment of a customer's calls (``segments.py``): calls from
  impossible, DNO, toll-free or premium-rate caller IDs, neighbour-spoofed ones, and
  automated traffic (short answered calls, low completion) among rotated caller IDs or one
  attestation level. A segment rule fires when its segment is bad enough in *share* of the
  customer's calls **or** in *absolute volume* (a ``Choice``): a provider answers for every
  illegal call it carries, not only for customers whose majority is bad;
- ``CALLER_RULES`` look at one caller ID.

Design choices:
- Volume alone never flags: every rule first says *what* is wrong with the calls (a caller
  ID that cannot be real, a flood on one number, answered calls too short to be
  conversations...), then how many such calls make a finding.
- The answered-call shape (share of answered calls under 10 and 30 s, i.e. the median) is
  what separates consented call centers (answered calls are conversations of minutes) from
  robocalls (answered calls are hung up on, or say nothing, within seconds); low completion
  (ASR < 50 %) must hold too, because reminders and notifications are short but answered.
- Automated traffic from steady lines (an identified sender: reminders, school and political
  notifications) is judged line by line (each line's own completion and shape), never pooled:
  a carrier that passes reminders (short, answered) and call-center calls (long, rarely
  answered) does not look like a robocaller. Rotated caller IDs (used once or a few times)
  are judged together, in all and per attestation level.
- Weak signals (a new customer, complaints, one traceback) raise a score that another rule
  started but never flag alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FLAG_THRESHOLD = 0.5
# A rule firing exactly at its thresholds gives this strength; twice as far past them,
# STRONG_MAX.
STRONG_BASE = 0.6
STRONG_MAX = 0.99
NEW_CUSTOMER_STRENGTH = 0.15
# Traceback history: this many tracebacks naming a customer in 90 days flag it; fewer only
# raise its score.
TRACEBACKS_STRONG = 3
TRACEBACK_WEAK = 0.2
# Complaints traced to a customer: weak evidence (people complain about legal calls too).
COMPLAINTS_WEAK_AT = 2
COMPLAINTS_WEAK = 0.2

# The published practice the rules rest on: key -> what it is and what it says.
SOURCES: dict[str, str] = {
    "fcc_17_151": "FCC Report and Order FCC 17-151 (Nov 2017), 47 CFR 64.1200(k)(1)-(2): "
    "providers may block calls from Do-Not-Originate numbers and from invalid, unallocated or "
    "unassigned numbers; the FCC's fact sheet calls such calls very likely illegal or "
    "fraudulent (e.g. IRS imposters spoofing inbound-only IRS numbers)",
    "fcc_19_51": "FCC Declaratory Ruling FCC 19-51 (June 2019): blocking on 'reasonable "
    "analytics' such as large bursts of calls in a short time, low average call duration, low "
    "call completion, invalid numbers placing many calls, sequential dialling patterns, "
    "neighbour spoofing and patterns that indicate TDoS attacks",
    "fbi_tdos": "FBI Private Industry Notification / IC3 PSA, 17 Feb 2021, 'Telephony Denial "
    "of Service Attacks Can Disrupt Emergency Call Center Operations': automated TDoS makes "
    "'tens or hundreds of calls, simultaneously or in rapid succession' to one number, with "
    "spoofed caller IDs",
    "fcc_one_ring": "FCC consumer alert, 3 May 2019, 'One Ring' / Wangiri scam: the robocaller "
    "hangs up after a ring or two, in waves and often at night, from international numbers "
    "whose call-back is charged like a premium-rate (900) number",
    "transnexus_attest": "TransNexus monthly STIR/SHAKEN statistics (2021-2023, calls received "
    "by 100+ providers): calls signed with B or C attestation were 3 to 6 times likelier to be "
    "robocalls than unsigned calls (June 2023: about 22 % of B-signed and 19 % of C-signed "
    "calls were robocalls)",
    "nclc_epic_2024": "NCLC and EPIC ex parte, FCC WC Dockets 13-97, 07-243, 20-67 (25 Mar "
    "2024): illegal callers rotate through numbers, originating only a few calls from each so "
    "that no number is identified, and can still get A attestation",
    "tns_snowshoe": "TNS Robocall Investigation Report (2019): 'snowshoeing' spreads a "
    "campaign over several hundred numbers a day to stay under per-number analytics; "
    "toll-free numbers were a quarter of high-risk calls",
    "spamhaus_snowshoe": "Spamhaus, 'Frequently Asked Questions' (2008) and the CSS "
    "announcement (October 2009, as reported by Word to the Wise): the term snowshoe comes "
    "from spam spread over many sending addresses, each used at a low volume, to dilute "
    "per-source reputation and stay under filters' thresholds, where a legitimate sender "
    "keeps a small stable set of its own",
    "rraptor_2024": "Legal Calls Only, 'Robocall Radar #3: Short & Silent Calls' (30 Apr "
    "2024): of the robocalls its honeypot answers, more than half (up to 60 %) say too little "
    "to be categorised: short and silent calls from the same providers as the known robocalls",
    "sip_trunk_minimums": "A SIP trunk provider's published minimum call statistics (Phoenix "
    "Solutions): conversational traffic ASR 50 % and ACD 60 s, call-centre traffic ASR 40 % "
    "and ACD 30 s; traffic below them may be blocked as robocalls",
    "ani_profiling": "46 Labs' robocall mitigation options: per-caller-ID (ANI) thresholds "
    "on minimum ASR, minimum ACD and maximum short-duration ratio, a caller ID being judged "
    "once it made 20 or more attempts in six hours",
    "published_short_asr": "Carriers' robocall mitigation plans (DOMAIN.md): more than 20 % "
    "of answered calls under 6 s after 100-120 attempts an hour; ASR under 50 % after more "
    "than 120 attempts an hour",
    "tcpa_abandon": "47 CFR 64.1200(a)(7) and 16 CFR 310.4(b)(4): predictive dialers may "
    "abandon up to 3 % of answered calls, and dialers hang up on answering machines: "
    "consented call-centre traffic has some short answered calls of its own",
    "fcc_low_acd_lawful": "Insights Association, Gallup and others, comments to the FCC (Aug "
    "2023), citing the Commission: low-average-duration calls, even at high volume and low "
    "answer rates, include essential lawful communications (reminders, alerts): not a reason "
    "to block on their own",
    "atis_1000074": "ATIS-1000074 and RFC 8224: a PASSporT that does not verify, or does not "
    "match the caller ID, is a spoofed caller ID",
    "cfr_64_1200_n": "47 CFR 64.1200(n)(2): a provider notified of illegal traffic must "
    "mitigate it; the Consortium starts tracebacks only for calls it judged illegal",
    "kyc": "47 CFR 64.1200(n)(4): know your customer; new customers get a closer look",
}


@dataclass(frozen=True)
class Threshold:
    """One comparison a rule makes: ``indicator op value``."""

    indicator: str
    op: str  # ">=" or "<"
    value: float

    def holds(self, v: dict[str, Any]) -> bool:
        x = v.get(self.indicator)
        if x is None:
            return False
        return x >= self.value if self.op == ">=" else x < self.value

    def excess(self, v: dict[str, Any]) -> float:
        """How far past the threshold, relative to it (0 at the threshold)."""
        x = float(v[self.indicator])
        if self.op == ">=":
            return (x - self.value) / self.value if self.value else 1.0
        return (self.value - x) / self.value if self.value else 1.0


@dataclass(frozen=True)
class Choice:
    """Alternatives of which one must hold, e.g. the segment's share of the customer's calls
    *or* its volume. Each option: ``(label, thresholds)``; the first that holds is used."""

    name: str
    options: tuple[tuple[str, tuple[Threshold, ...]], ...]

    def held(self, v: dict[str, Any]) -> tuple[str, tuple[Threshold, ...]] | None:
        for label, thresholds in self.options:
            if all(t.holds(v) for t in thresholds):
                return label, thresholds
        return None


@dataclass(frozen=True)
class Rule:
    """A named rule: fires when every threshold holds and each choice has an option that
    holds. The ``scored`` thresholds and each choice's first threshold set the strength."""

    name: str
    category: str
    description: str
    thresholds: tuple[Threshold, ...]
    scored: tuple[int, ...] = (0,)  # indexes of the thresholds whose excess raises strength
    exempt_kinds: tuple[str, ...] = ()
    weak: float | None = None  # fixed strength of a weak signal
    choices: tuple[Choice, ...] = ()
    segments: tuple[str, ...] = ()  # segment rules: the segments they judge
    sources: tuple[str, ...] = ()  # keys of SOURCES

    def fire(self, v: dict[str, Any]) -> float | None:
        if v.get("customer_kind") in self.exempt_kinds:
            return None
        if not all(t.holds(v) for t in self.thresholds):
            return None
        held = [c.held(v) for c in self.choices]
        if any(h is None for h in held):
            return None
        if self.weak is not None:
            return self.weak
        excess = sum(self.thresholds[i].excess(v) for i in self.scored if i < len(self.thresholds))
        excess += sum(h[1][0].excess(v) for h in held if h is not None)
        return min(STRONG_MAX, STRONG_BASE + (STRONG_MAX - STRONG_BASE) * min(1.0, excess))

    def evidence(self, v: dict[str, Any]) -> list[dict[str, Any]]:
        """Every threshold with its value; for each choice, the option that held (or, when
        none did, every option: what was missing)."""
        out = [_shown(t, v) for t in self.thresholds]
        for c in self.choices:
            h = c.held(v)
            options = [h] if h is not None else c.options
            for label, thresholds in options:
                out += [_shown(t, v) | {"choice": f"{c.name}: {label}"} for t in thresholds]
        return out

    def all_thresholds(self) -> tuple[Threshold, ...]:
        return self.thresholds + tuple(t for c in self.choices for _, ts in c.options for t in ts)


def _shown(t: Threshold, v: dict[str, Any]) -> dict[str, Any]:
    x = v.get(t.indicator)
    return {
        "indicator": t.indicator,
        "value": round(x, 4) if type(x) is float else x,
        "op": t.op,
        "threshold": t.value,
    }


def _t(indicator: str, op: str, value: float) -> Threshold:
    return Threshold(indicator, op, value)


# --- customers --------------------------------------------------------------------------------

CUSTOMER_RULES: tuple[Rule, ...] = (
    Rule(
        "tdos",
        "tdos",
        "attempts piled on a few called numbers: three numbers take half the customer's "
        "attempts, or one number gets 60 or more in one hour (telephone denial of service)",
        (_t("top3_called_calls", ">=", 100),),
        scored=(),
        choices=(
            Choice(
                "flood",
                (
                    ("concentrated", (_t("top3_called_share", ">=", 0.5),)),
                    ("rapid succession", (_t("top_called_per_hour", ">=", 60),)),
                ),
            ),
        ),
        sources=("fbi_tdos", "fcc_19_51"),
    ),
    Rule(
        "sequential_dialling",
        "sequential_dialling",
        "called numbers dialled in sequence through a block, beyond what random dialling into "
        "the same blocks gives",
        (_t("sequential_excess", ">=", 50),),
        scored=(),
        choices=(
            Choice(
                "size",
                (
                    ("share", (_t("sequential_excess_share", ">=", 0.20),)),
                    ("volume", (_t("sequential_excess", ">=", 300),)),
                ),
            ),
        ),
        sources=("fcc_19_51",),
    ),
    Rule(
        "failed_verification",
        "spoofed_caller_id",
        "STIR/SHAKEN verification failed (a signature that does not verify, or does not "
        "match the caller ID)",
        (_t("verify_failed_share", ">=", 0.10), _t("verify_failed_calls", ">=", 20)),
        sources=("atis_1000074",),
    ),
    Rule(
        "traceback_history",
        "traceback_history",
        "traceback requests named this customer as the source of reported illegal calls "
        f"{TRACEBACKS_STRONG} or more times in the last 90 days",
        (_t("tracebacks", ">=", TRACEBACKS_STRONG),),
        sources=("cfr_64_1200_n",),
    ),
    Rule(
        "traceback_named",
        "traceback_history",
        "a traceback request named this customer in the last 90 days; raises a score, never "
        "flags alone",
        (_t("tracebacks", ">=", 1),),
        weak=TRACEBACK_WEAK,
        sources=("cfr_64_1200_n",),
    ),
    Rule(
        "complaints",
        "complaints",
        "complaints about calls traced to this customer in the last 90 days (tracehop "
        f"complaints import); {COMPLAINTS_WEAK_AT} or more raise a score, never flag alone: "
        "consumers also complain about legal calls (reminders, call centers)",
        (_t("complaints", ">=", COMPLAINTS_WEAK_AT),),
        weak=COMPLAINTS_WEAK,
        sources=("fcc_19_51",),
    ),
    Rule(
        "new_customer",
        "new_customer",
        "customer onboarded less than 90 days before the window ended; raises a score, never "
        "flags alone",
        (_t("customer_age_days", "<", 90),),
        weak=NEW_CUSTOMER_STRENGTH,
        sources=("kyc",),
    ),
)

# --- segments ---------------------------------------------------------------------------------

# How big a bad segment must be: a tenth of the customer's calls, or this many calls in the
# window whatever the share (the 300 illegal calls a day).
SEGMENT_SHARE = 0.10
SEGMENT_VOLUME = 300


def _size(volume: float = SEGMENT_VOLUME, *extra: Threshold) -> Choice:
    return Choice(
        "size",
        (
            ("share of the customer's calls", (_t("share", ">=", SEGMENT_SHARE),)),
            ("volume", (_t("calls", ">=", volume), *extra)),
        ),
    )


# The answered-call shape of automated traffic: half of the answered calls under 30 s (the
# median answered call is shorter than a recorded message), or 40 % or more hung up on (or
# silent) within 10 s: more than a predictive dialer's hang-ups on answering machines leave
# in a consented call center's traffic (which the 3 % abandonment rule does not count).
SHAPE = Choice(
    "answered shape",
    (
        ("median under 30 s", (_t("under30_share", ">=", 0.5),)),
        ("hung up within 10 s", (_t("under10_share", ">=", 0.40),)),
    ),
)
# Automated traffic: at least this many attempts and answered calls to judge a shape, and
# completion under the published 50 %.
AUTOMATED = (_t("asr", "<", 0.5), _t("calls", ">=", 200), _t("answered", ">=", 30))
ROTATED = ("reuse=once", "reuse=few", "pool=dense")

SEGMENT_RULES: tuple[Rule, ...] = (
    Rule(
        "one_ring",
        "one_ring",
        "unanswered attempts from international premium-rate caller IDs (one-ring, wangiri: "
        "ring once so that the victim calls back)",
        (_t("unanswered_nc", ">=", 30),),
        choices=(
            Choice(
                "size",
                (
                    ("share of the customer's calls", (_t("share", ">=", 0.20),)),
                    ("volume", (_t("unanswered_nc", ">=", 100),)),
                ),
            ),
        ),
        segments=("class=premium",),
        sources=("fcc_one_ring", "fcc_19_51"),
    ),
    Rule(
        "dno_caller_ids",
        "imposter",
        "caller IDs on the Do-Not-Originate list: numbers that never place calls (inbound-only "
        "government and bank lines an imposter shows)",
        (_t("calls", ">=", 5),),
        segments=("class=dno",),
        sources=("fcc_17_151",),
    ),
    Rule(
        "toll_free_spoofing",
        "imposter",
        "many toll-free numbers as caller ID: a business shows its one or few own toll-free "
        "numbers; many of them, each used a few times, are look-alikes of support lines "
        "(tech-support and bank imposters)",
        (_t("callers", ">=", 5), _t("calls", ">=", 20)),
        choices=(_size(100, _t("callers", ">=", 20)),),
        segments=("class=toll_free",),
        sources=("tns_snowshoe", "fcc_17_151"),
    ),
    Rule(
        "impossible_caller_ids",
        "invalid_caller_id",
        "caller IDs that cannot be real: wrong length, impossible or unassigned area code or "
        "exchange, N11, 555-01XX, the called number itself (a misconfigured switch shows one "
        "or a few such numbers; many different ones are generated)",
        (_t("calls", ">=", 20),),
        choices=(_size(100, _t("callers", ">=", 20)),),
        segments=("class=impossible",),
        sources=("fcc_17_151", "fcc_19_51"),
    ),
    Rule(
        "unreal_caller_ids",
        "invalid_caller_id",
        "caller IDs that cannot be a real caller, counted together: impossible ones and "
        "toll-free numbers used once or a few times (a scam that splits its calls between "
        "both stays under each one's floor)",
        (_t("calls", ">=", 20),),
        choices=(_size(100, _t("callers", ">=", 20)),),
        segments=("cli=unreal",),
        sources=("fcc_17_151", "tns_snowshoe"),
    ),
    Rule(
        "neighbour_spoofing",
        "spoofed_caller_id",
        "caller IDs with the called number's NPA-NXX (neighbour spoofing); by volume only when "
        "the answered calls are short too (people call their own exchange); residential lines "
        "are exempt",
        (_t("calls", ">=", 30),),
        exempt_kinds=("end_user",),
        choices=(_size(SEGMENT_VOLUME, _t("callers", ">=", 100), _t("under30_share", ">=", 0.5)),),
        segments=("pattern=neighbour",),
        sources=("fcc_19_51",),
    ),
    Rule(
        "snowshoe",
        "snowshoe",
        "automated traffic spread over 50 or more caller IDs: low completion and answered "
        "calls too short for conversations, from numbers each used a few times",
        (_t("callers", ">=", 50), *AUTOMATED),
        choices=(SHAPE, _size()),
        segments=ROTATED,
        sources=("tns_snowshoe", "nclc_epic_2024", "rraptor_2024", "published_short_asr"),
    ),
    Rule(
        "snowshoe_contrast",
        "snowshoe",
        "a snowshoe mixed into a customer's traffic: its numbers used a few times (3-19) have "
        "far more short answered calls and a lower completion than its own numbers used once "
        "or twice (a carrier's subscribers), beyond chance; a snowshoer uses each number a "
        "few times, and a carrier's subscribers' calls do not end differently because their "
        "number called more often",
        (
            _t("callers", ">=", 50),
            _t("under30_excess", ">=", 0.05),
            _t("contrast_z", ">=", 4.0),
            _t("asr_ratio", "<", 1.0),
        ),
        scored=(2,),
        choices=(
            Choice(
                "size",
                (
                    (
                        "share of the customer's answered calls",
                        (_t("automated_share", ">=", SEGMENT_SHARE),),
                    ),
                    ("volume", (_t("automated_answered", ">=", 100),)),
                ),
            ),
        ),
        segments=("reuse=few",),
        sources=("tns_snowshoe", "nclc_epic_2024", "spamhaus_snowshoe", "rraptor_2024"),
    ),
    Rule(
        "automated_lines",
        "unknown_robocall_campaign",
        "automated traffic from steady lines: the lines answered under 40 % of the time (the "
        "published call-centre minimum), judged together, have answered calls too short for "
        "conversations (a reminder line is answered; a call center's lines are not, but talk "
        "for minutes)",
        (_t("calls", ">=", 200), _t("answered", ">=", 30)),
        choices=(SHAPE, _size()),
        segments=("line=low_completion",),
        sources=("sip_trunk_minimums", "ani_profiling", "fcc_low_acd_lawful"),
    ),
    Rule(
        "robocall_shape",
        "unknown_robocall_campaign",
        "automated traffic of no known kind: low completion and answered calls too short for "
        "conversations, from rotated caller IDs (all of them, or those at one attestation "
        "level: partial, gateway or none); steady lines are judged one by one "
        "(automated_lines): reminders and notifications are short but come from their "
        "sender's own numbers",
        AUTOMATED,
        choices=(SHAPE, _size()),
        segments=(*ROTATED, "rotated=B", "rotated=C", "rotated=unsigned"),
        sources=(
            "rraptor_2024",
            "published_short_asr",
            "sip_trunk_minimums",
            "transnexus_attest",
            "fcc_low_acd_lawful",
            "tcpa_abandon",
        ),
    ),
)

# --- caller IDs -------------------------------------------------------------------------------

# Caller-ID rules: a caller ID is reported when it is itself bad, not for its volume.
CALLER_RULES: tuple[Rule, ...] = (
    Rule(
        "invalid_caller_id",
        "invalid_caller_id",
        "the caller ID cannot be real",
        (_t("invalid_share", ">=", 0.5), _t("calls", ">=", 5)),
        sources=("fcc_17_151",),
    ),
    Rule(
        "one_ring",
        "one_ring",
        "unanswered attempts from an international premium-rate caller ID",
        (_t("one_ring_share", ">=", 0.5), _t("calls", ">=", 5)),
        sources=("fcc_one_ring",),
    ),
    Rule(
        "neighbour_spoofing",
        "spoofed_caller_id",
        "the caller ID mostly has the called number's NPA-NXX",
        (_t("neighbour_share", ">=", 0.5), _t("calls", ">=", 5)),
        sources=("fcc_19_51",),
    ),
    Rule(
        "robocall_shape",
        "unknown_robocall_campaign",
        "one caller ID with low completion and answered calls too short for conversations",
        (_t("asr", "<", 0.5), _t("calls", ">=", 100), _t("answered_calls", ">=", 30)),
        choices=(SHAPE,),
        sources=("ani_profiling", "published_short_asr"),
    ),
)
