"""Caller-ID validity classes for detection: which classes cannot be real, and the part of
the classification that needs ``phonenumbers``.

:func:`tracehop.numbers.caller_id_class` is computed in SQL, once per distinct caller ID
(``queries.classify_callers``): the structural checks (length, 0/1 and N9X codes, N11,
555-01XX, toll-free) run as a ``CASE``; whether a well-formed NANP number is assigned comes
from the NPA-NXX table of :mod:`tracehop.nanp` (phonenumbers' metadata, precomputed per
prefix) joined in SQL; what still needs ``phonenumbers`` (international numbers: possible?
premium rate?; the few NPA-NXX whose validity depends on the line number) is resolved here,
once per distinct number, by :func:`resolve`.

"caller = called" is a property of a call, not of a caller ID: the aggregates count it per
call (``cec``) and it takes precedence over the caller's class, as in ``caller_id_class``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from tracehop.numbers import CallerIdClass, caller_id_class

# Caller-ID classes that cannot be a real, assigned caller ID (DOMAIN.md "invalid caller IDs";
# 47 CFR 64.1200(k)(2): calls from invalid, unallocated or unused numbers may be blocked).
INVALID_CLASSES = (
    CallerIdClass.INVALID_LENGTH,
    CallerIdClass.INVALID_NPA,
    CallerIdClass.UNASSIGNED_NPA,
    CallerIdClass.N11,
    CallerIdClass.FICTIONAL,
    CallerIdClass.CALLER_EQUALS_CALLED,
)


def resolve(callers: Sequence[str]) -> pa.Table:
    """``(caller, cls)`` for caller IDs the SQL cannot classify alone, by ``phonenumbers``."""
    return pa.table(
        {
            "caller": pa.array(callers, type=pa.string()),
            "cls": pa.array([str(caller_id_class(k)) for k in callers], type=pa.string()),
        }
    )
