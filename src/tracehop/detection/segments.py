"""Segments of a customer's traffic: its calls split by what their caller IDs are, how they
are signed and how often each caller ID is used, so that a bad part is seen even when it is a
minority of a large carrier's calls (docs/detection.md, "Segments").

A share of a customer's whole traffic hides a scam mixed into a wholesale carrier: 4,000 calls
from caller IDs that cannot be real are 6 % of 70,000 ordinary ones. A provider answers for
every illegal call it carries, so each customer's calls are also judged in segments, each
with its own counts, answered-call shape and example calls, and a segment rule
(``scoring.SEGMENT_RULES``) fires on a segment that is bad enough in absolute volume as well as
in share. Every call is in one segment of each dimension:

- ``class``: what the caller ID is (``tracehop.numbers.caller_id_class``, grouped):
  ``impossible`` (wrong length, impossible or unassigned area code or exchange, N11,
  555-01XX, the called number itself: 47 CFR 64.1200(k)(2)), ``dno`` (on the Do-Not-Originate
  list given to the run), ``toll_free``, ``premium`` (international premium rate),
  ``foreign`` (other international numbers), ``missing`` (no E.164 form) or ``valid``;
- ``pattern``: ``neighbour`` when the caller ID mostly has the called number's NPA-NXX;
- ``attest``: the STIR/SHAKEN attestation, ``A``, ``B``, ``C`` or ``unsigned``;
- ``reuse``: how often the customer used the caller ID in the window: ``once`` (at most
  ``ONCE_MAX`` attempts: a number used once or twice, as rotating and spoofing robocallers do),
  ``few`` (fewer than ``STEADY_MIN``) or ``steady`` (a line used steadily);
- ``rotated``: the attestation of the calls from caller IDs that are not steady lines (a scam
  mixed into a carrier is often signed differently from the carrier's own traffic, and the
  steady lines of a notification sender passing through are left out);
- ``line``: ``low_completion``, the steady lines each answered less than ``LINE_MAX_ASR`` of
  the time at the upper confidence bound (a reminder line is answered; a call center's lines
  are not, but talk long);
- ``cli``: ``unreal``, caller IDs that cannot be a real caller: impossible ones, and toll-free
  numbers used once or a few times (the issue's scam splits its calls between the two);
- ``pool``: ``dense``, rotated caller IDs from thousands-blocks (NPA-NXX-X) from which the
  customer showed ``POOL_MIN`` or more different ones: numbers obtained in blocks and rotated
  through, as snowshoe campaigns do (a carrier's own callers are spread over many blocks).

The statements are in ``queries.py`` (``segment_indicators``, ``segment_examples``); this
module says what the segments are.
"""

from __future__ import annotations

import math
from typing import Any

from tracehop.detection.classes import INVALID_CLASSES
from tracehop.numbers import CallerIdClass

# A caller ID used at most this many times by a customer in the window is "used once".
ONCE_MAX = 2
# ... and at least this many times, a steady line (the 20 attempts a carrier's published ANI
# profiling waits for before judging a caller ID: docs/detection.md, Sources).
STEADY_MIN = 20

DIMENSIONS: dict[str, tuple[str, ...]] = {
    "class": ("impossible", "dno", "toll_free", "premium", "foreign", "missing", "valid"),
    "pattern": ("neighbour",),
    "attest": ("A", "B", "C", "unsigned"),
    "reuse": ("once", "few", "steady"),
    "rotated": ("A", "B", "C", "unsigned"),
    "line": ("low_completion",),
    "pool": ("dense",),
    "cli": ("unreal",),
}
# A thousands-block (NPA-NXX-X) from which a customer showed this many different rotated
# caller IDs in the window is a pool of numbers it holds and rotates through.
POOL_MIN = 20
# A steady line whose attempts are answered less often than this (the published call-centre
# minimum ASR) is a low-completion line; such lines are judged together on their answered
# calls (chosen on completion alone, so that their answered-call shape is not chosen too).
LINE_MAX_ASR = 0.40

# The reuse=few / reuse=once contrast needs this many answered calls on each side.
CONTRAST_MIN_ANSWERED = 30

IMPOSSIBLE_CLASSES = tuple(
    str(c) for c in INVALID_CLASSES if c != CallerIdClass.CALLER_EQUALS_CALLED
)


def class_group_sql(dno: bool) -> str:
    """The ``class`` segment of a ``th_uc`` row ``u`` joined with its class ``k`` (and the DNO
    list ``d`` when ``dno``). Caller = called is a property of calls: a row whose calls mostly
    show the called number is ``impossible``."""
    names = ", ".join(f"'{c}'" for c in IMPOSSIBLE_CLASSES)
    dno_case = "WHEN d.caller IS NOT NULL THEN 'dno' " if dno else ""
    return (
        "CASE WHEN u.caller IS NULL OR u.caller = '' THEN 'missing' "
        f"WHEN 2 * u.cec >= u.n OR k.cls IN ({names}) THEN 'impossible' "
        f"{dno_case}"
        "WHEN k.cls = 'toll_free' THEN 'toll_free' "
        "WHEN k.cls = 'premium_international' THEN 'premium' "
        "WHEN NOT starts_with(u.caller, '+1') THEN 'foreign' "
        "ELSE 'valid' END"
    )


def reuse_sql(count: str = "cn") -> str:
    """The ``reuse`` segment from a caller ID's attempts by the customer in the window."""
    return (
        f"CASE WHEN {count} <= {ONCE_MAX} THEN 'once' "
        f"WHEN {count} < {STEADY_MIN} THEN 'few' ELSE 'steady' END"
    )


def line_sql(calls: str, answered: str) -> str:
    """``low_completion`` for a steady line answered less than ``LINE_MAX_ASR`` of the time,
    even at its upper confidence bound (two standard errors: a line of a sender answered
    45 % of the time is not chosen because its few calls happened to go unanswered)."""
    asr = f"({answered} / {calls})"
    upper = f"({asr} + 2 * sqrt({asr} * (1 - {asr}) / {calls}))"
    return (
        f"CASE WHEN {calls} >= {STEADY_MIN} AND {upper} < {LINE_MAX_ASR} THEN 'low_completion' END"
    )


def contrast(segments: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Add to a customer's ``reuse=few`` segment (``segments``: its segments by name) how it
    differs from its ``reuse=once`` segment (the baseline), for ``snowshoe_contrast``
    (rules.py). A snowshoer uses each
    number a few times (TNS, NCLC/EPIC: to stay under per-number analytics); a carrier's
    subscribers call as often as they call, and how their calls end does not depend on how
    many calls their number made. So when a customer's numbers used a few times have many
    more short answered calls than its numbers used once or twice, another caller is mixed
    into its traffic. Values (none when either side has fewer than ``CONTRAST_MIN_ANSWERED``
    answered calls):

    - ``baseline_asr``, ``baseline_under30``: the ``reuse=once`` segment's;
    - ``under30_excess``: ``under30_share`` minus the baseline's;
    - ``contrast_z``: the two-proportion z statistic of that difference (pooled);
    - ``asr_ratio``: ``asr`` / ``baseline_asr`` (robocalls complete less);
    - ``automated_answered``: the answered calls of the segment beyond the baseline's shape,
      ``answered * under30_excess / (1 - baseline_under30)``: a lower bound of the mixed-in
      caller's answered calls (exact if all of them are under 30 s);
    - ``automated_share``: that, of all the customer's answered calls.
    """
    few, once = segments.get("reuse=few"), segments.get("reuse=once")
    if few is None or once is None:
        return segments
    a1, a0 = few.get("answered") or 0, once.get("answered") or 0
    if a1 < CONTRAST_MIN_ANSWERED or a0 < CONTRAST_MIN_ANSWERED:
        return segments
    p1, p0 = few["under30_share"], once["under30_share"]
    pooled = (p1 * a1 + p0 * a0) / (a1 + a0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / a1 + 1 / a0))
    excess = p1 - p0
    automated = a1 * excess / (1 - p0) if p0 < 1 else 0.0
    answered = sum(
        segments[f"reuse={r}"].get("answered") or 0
        for r in DIMENSIONS["reuse"]
        if f"reuse={r}" in segments
    )
    few |= {
        "baseline_asr": once["asr"],
        "baseline_under30": p0,
        "under30_excess": excess,
        "contrast_z": excess / se if se > 0 else 0.0,
        "asr_ratio": few["asr"] / once["asr"] if once["asr"] else 1.0,
        "automated_answered": max(0.0, automated),
        "automated_share": max(0.0, automated) / answered if answered else 0.0,
    }
    return segments


def name(dimension: str, value: str) -> str:
    """A segment's name in findings: ``class=impossible``, ``reuse=once``, ..."""
    return f"{dimension}={value}"
