"""Telephone numbers: normalisation to E.164 and caller-ID validity classes.

Two implementations of one rule set, kept equal by a property test:
- :func:`to_e164` here, in plain Python (``phonenumbers`` for non-NANP numbers);
- :func:`e164_sql` in ``tracehop.cdr.sql``, the same steps as DuckDB SQL, so that millions of
  NANP rows are normalised inside the query engine and only international ones call back into
  ``phonenumbers``.

The rules (docs/ingest.md):
1. Strip a SIP/tel URI down to its user part: drop ``sip:``/``sips:``/``tel:``, anything from
   ``@`` or ``;`` on, and surrounding blanks.
2. What is left may contain only digits, ``+``, blanks and ``( ) . - /``; anything else
   (``anonymous``, ``1-800-FLOWERS``) has no E.164 form.
3. ``+1`` and 10 more digits, 10 digits, or 11 digits starting with 1: NANP, ``+1NPANXXXXXX``.
4. ``+`` or ``011`` followed by another country code: international, kept when
   ``phonenumbers`` finds it a possible number for that country.
5. Anything else (7-digit local numbers, 911, short codes) has no E.164 form; the raw value is
   always kept beside it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache

import phonenumbers

# Kept equal to tracehop.cdr.sql.NUMBER_CHARS / STRIP (RE2 and Python read them alike).
NUMBER_CHARS = r"[0-9+ \t().\-/]*"
STRIP = " \t"
_ALLOWED = re.compile(NUMBER_CHARS)
_NON_DIGIT = re.compile(r"[^0-9]")
# Spelled out rather than case-insensitive: Unicode case folding differs between engines.
SCHEME = r"^([sS][iI][pP][sS]?|[tT][eE][lL]):"
_SCHEME = re.compile(SCHEME)


def clean(raw: str | None) -> str:
    """Step 1: the user part of a number as a switch wrote it."""
    if raw is None:
        return ""
    s = raw.strip(STRIP)
    s = s.split("@", 1)[0].split(";", 1)[0]
    s = _SCHEME.sub("", s.strip(STRIP))
    return s.strip(STRIP)


@lru_cache(maxsize=65536)
def international_e164(digits: str) -> str | None:
    """E.164 for the digits after ``+``/``011``, or None if not a possible number."""
    if not digits or len(digits) > 15:
        return None
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def to_e164(raw: str | None) -> str | None:
    """Normalise a caller or called number as a switch wrote it; None if it has no E.164 form."""
    s = clean(raw)
    if not s or not _ALLOWED.fullmatch(s):
        return None
    plus = s.startswith("+")
    d = _NON_DIGIT.sub("", s)
    if not d:
        return None
    if plus:
        if d.startswith("1"):
            return "+" + d if len(d) == 11 else None
        return international_e164(d)
    if d.startswith("011"):
        rest = d[3:]
        if rest.startswith("1"):
            return "+" + rest if len(rest) == 11 else None
        return international_e164(rest)
    if len(d) == 10:
        return "+1" + d
    if len(d) == 11 and d.startswith("1"):
        return "+" + d
    return None


class CallerIdClass(StrEnum):
    """Validity classes of a caller ID, shared by detection and screening (DOMAIN.md)."""

    VALID = "valid"
    MISSING = "missing"  # no E.164 form at all (anonymous, garbage)
    INVALID_LENGTH = "invalid_length"
    INVALID_NPA = "invalid_npa"  # area code or exchange cannot exist (0/1 first digit, N9X)
    UNASSIGNED_NPA = "unassigned_npa"  # well formed, but not an assigned area code
    N11 = "n11"  # 211..911 as area code or exchange
    FICTIONAL = "fictional"  # 555-0100..555-0199
    TOLL_FREE = "toll_free"  # toll-free numbers do not originate calls
    PREMIUM_INTERNATIONAL = "premium_international"
    CALLER_EQUALS_CALLED = "caller_equals_called"


TOLL_FREE_NPAS = frozenset({"800", "833", "844", "855", "866", "877", "888"})


def caller_id_class(caller: str | None, called: str | None = None) -> CallerIdClass:
    """Classify an E.164 caller ID (as produced by :func:`to_e164`)."""
    if not caller:
        return CallerIdClass.MISSING
    if called and caller == called:
        return CallerIdClass.CALLER_EQUALS_CALLED
    if caller.startswith("+1"):
        national = caller[2:]
        # isascii: str.isdigit() is true of superscripts and other scripts' digits too
        if len(national) != 10 or not (national.isascii() and national.isdigit()):
            return CallerIdClass.INVALID_LENGTH
        npa, nxx, line = national[:3], national[3:6], national[6:]
        if npa[0] in "01" or nxx[0] in "01" or npa[1] == "9":
            return CallerIdClass.INVALID_NPA
        if npa[1:] == "11" or nxx[1:] == "11":
            return CallerIdClass.N11
        if nxx == "555" and "0100" <= line <= "0199":
            return CallerIdClass.FICTIONAL
        if npa in TOLL_FREE_NPAS:
            return CallerIdClass.TOLL_FREE
        if not _nanp_valid(caller):
            return CallerIdClass.UNASSIGNED_NPA
        return CallerIdClass.VALID
    parsed = _parse(caller)
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        return CallerIdClass.INVALID_LENGTH
    if phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.PREMIUM_RATE:
        return CallerIdClass.PREMIUM_INTERNATIONAL
    return CallerIdClass.VALID


def _nanp_valid(e164: str) -> bool:
    """``phonenumbers`` validity of a ``+1`` number, from the NPA-NXX table of tracehop.nanp
    (imported here: it loads numpy, which ingest's international numbers do not need)."""
    from tracehop.nanp import nanp_valid

    return nanp_valid(e164[2:])


def _parse(e164: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
