"""NANP caller-ID validity from a precomputed table, exact with ``phonenumbers``.

``phonenumbers.is_valid_number`` costs ~15 µs a number; for +1 numbers its answer depends only on
the NPA-NXX prefix, except in a few "mixed" prefixes. ``data/nanp_valid.npz`` holds it for the
800 x 800 prefixes with NPA and NXX in 200..999, the mixed prefixes (asked per number) and the
phonenumbers version. Regenerate it with ``python tools/build_nanp.py --write`` (maintainers,
after a phonenumbers upgrade).

:func:`build_table` is exact, not sampled. For a 10-digit +1 number ``is_valid_number`` is a
function of which patterns of the country code 1 regions match (``leading_digits`` as a prefix,
each number description's pattern in full; length checks do not depend on the digits). The
patterns become automata over digits, run side by side; after each prefix every combination of
match results reachable with four more digits is enumerated, with a line number showing each,
and phonenumbers is asked about those: one answer, the prefix is uniform; two, it is mixed.
Checks: each new combination is compared with :mod:`re`, and must always get the same answer.

With another phonenumbers version installed the table is not used (one logged warning):
:func:`nanp_valid` asks phonenumbers per number; :func:`valid_prefixes`/:func:`mixed_prefixes`
rebuild the table in memory.
"""

from __future__ import annotations

import functools
import logging
import re
from importlib import resources
from pathlib import Path
from re import _constants as C
from re import _parser

import numpy as np
import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber, PhoneNumberDesc
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

logger = logging.getLogger(__name__)

TABLE_FILE = "data/nanp_valid.npz"
FIRST, LAST = 200, 999  # NPA and NXX both run over 200..999
SIDE = LAST - FIRST + 1
_CODES = np.arange(FIRST, LAST + 1)
PREFIXES = (_CODES[:, None] * 1000 + _CODES).ravel()  # NPA*1000+NXX, in table order (sorted)
_VALID, _ASK = 1, 2  # codes in the lookup bytes (0: invalid for every line)


def _patterns() -> list[tuple[str, bool]]:
    """(pattern, matched as a prefix) for every pattern ``is_valid_number`` may use for +1."""
    found: set[tuple[str, bool]] = set()
    for region in COUNTRY_CODE_TO_REGION_CODE[1]:
        meta = PhoneMetadata.metadata_for_region(region)
        if meta.leading_digits:
            found.add((meta.leading_digits, True))
        for value in vars(meta).values():
            if isinstance(value, PhoneNumberDesc) and value.national_number_pattern:
                found.add((value.national_number_pattern, False))
    return sorted(found)


def _digits(op: object, av: object) -> frozenset[int]:
    """The digits one regex LITERAL or IN item accepts."""
    codes: set[int] = set()
    for kind, val in [(op, av)] if op == C.LITERAL else av:  # type: ignore[attr-defined]
        if kind == C.LITERAL:
            codes.add(val)
        elif kind == C.RANGE:
            codes.update(range(val[0], val[1] + 1))
        elif kind == C.CATEGORY and val == C.CATEGORY_DIGIT:
            codes.update(range(48, 58))
        else:
            raise ValueError(f"unsupported character class item {kind} {val}")
    return frozenset(c - 48 for c in codes if 48 <= c <= 57)


class _Nfa:
    """Thompson automaton over digits for a pattern of literals, classes, groups, | and repeats."""

    def __init__(self, pattern: str, prefix: bool) -> None:
        self.edges: list[list[tuple[frozenset[int] | None, int]]] = [[]]  # None: empty move
        self.final = self._seq(_parser.parse(pattern), 0)
        if prefix:  # re.match: the pattern, then anything
            self.edges[self.final].append((frozenset(range(10)), self.final))
        self.start = self._closure({0})

    def _add(self, at: int, digits: frozenset[int] | None) -> int:
        self.edges.append([])
        self.edges[at].append((digits, len(self.edges) - 1))
        return len(self.edges) - 1

    def _seq(self, items: object, at: int) -> int:
        for op, av in items:  # type: ignore[attr-defined]
            if op in (C.LITERAL, C.IN):
                at = self._add(at, _digits(op, av))
            elif op == C.SUBPATTERN:
                at = self._seq(av[3], self._add(at, None))
            elif op == C.BRANCH:
                self.edges.append([])  # where the alternatives meet
                end = len(self.edges) - 1
                for alt in av[1]:
                    self.edges[self._seq(alt, self._add(at, None))].append((None, end))
                at = end
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
                lo, hi, body = av
                for _ in range(lo):
                    at = self._seq(body, self._add(at, None))
                if hi == C.MAXREPEAT:
                    loop = self._add(at, None)
                    self.edges[self._seq(body, loop)].append((None, loop))
                    at = self._add(loop, None)
                for _ in range(0 if hi == C.MAXREPEAT else hi - lo):
                    end = self._add(at, None)
                    self.edges[self._seq(body, self._add(at, None))].append((None, end))
                    at = end
            else:
                raise ValueError(f"unsupported regex construct {op} {av}")
        return at

    def _closure(self, states: set[int]) -> frozenset[int]:
        todo, seen = list(states), set(states)
        while todo:
            for digits, t in self.edges[todo.pop()]:
                if digits is None and t not in seen:
                    seen.add(t)
                    todo.append(t)
        return frozenset(seen)

    def step(self, states: frozenset[int], d: int) -> frozenset[int]:
        return self._closure({t for q in states for ds, t in self.edges[q] if ds and d in ds})


class _Product:
    """All pattern automata run side by side; product states are numbered as they appear."""

    def __init__(self, patterns: list[tuple[str, bool]]) -> None:
        self.nfas = [_Nfa(p, prefix) for p, prefix in patterns]
        self.states: list[tuple[frozenset[int], ...]] = []
        self.ids: dict[tuple[frozenset[int], ...], int] = {}
        self.steps: dict[tuple[int, int], int] = {}
        self.memo: dict[tuple[int, int], dict[tuple[bool, ...], str]] = {}
        self.start = self._intern(tuple(n.start for n in self.nfas))

    def _intern(self, state: tuple[frozenset[int], ...]) -> int:
        if state not in self.ids:
            self.ids[state] = len(self.states)
            self.states.append(state)
        return self.ids[state]

    def step(self, pid: int, d: int) -> int:
        if (pid, d) not in self.steps:
            nxt = tuple(n.step(s, d) for n, s in zip(self.nfas, self.states[pid], strict=True))
            self.steps[pid, d] = self._intern(nxt)
        return self.steps[pid, d]

    def endings(self, pid: int, length: int) -> dict[tuple[bool, ...], str]:
        """Each combination of match results reachable with ``length`` more digits -> a witness."""
        if (pid, length) not in self.memo:
            if length == 0:
                state = self.states[pid]
                out = {tuple(n.final in s for n, s in zip(self.nfas, state, strict=True)): ""}
            else:
                out = {}
                # Digits leading to the same state behave alike: one (the lowest) stands for all.
                groups = {self.step(pid, d): d for d in range(9, -1, -1)}
                for nxt, d in groups.items():
                    for results, rest in self.endings(nxt, length - 1).items():
                        out.setdefault(results, str(d) + rest)
            self.memo[pid, length] = out
        return self.memo[pid, length]


def build_table() -> tuple[np.ndarray, set[int]]:
    """(``valid[npa - 200, nxx - 200]``: valid for every line, False if mixed), mixed prefixes."""
    patterns = _patterns()
    matchers = [getattr(re.compile(p), "match" if pre else "fullmatch") for p, pre in patterns]
    product = _Product(patterns)
    answers: dict[tuple[bool, ...], bool] = {}
    valid = np.zeros((SIDE, SIDE), dtype=bool)
    mixed: set[int] = set()
    for npa in range(FIRST, LAST + 1):
        after_npa = functools.reduce(product.step, map(int, str(npa)), product.start)
        for nxx in range(FIRST, LAST + 1):
            prefix = npa * 1000 + nxx
            seen = set()
            after_nxx = functools.reduce(product.step, map(int, str(nxx)), after_npa)
            for results, line in product.endings(after_nxx, 4).items():
                number = PhoneNumber(country_code=1, national_number=prefix * 10000 + int(line))
                ok = phonenumbers.is_valid_number(number)
                text = f"{prefix}{line}"
                if results not in answers:
                    if results != tuple(bool(match(text)) for match in matchers):
                        raise RuntimeError(f"pattern automata disagree with re on {text}")
                    answers[results] = ok
                if answers[results] != ok:
                    raise RuntimeError(f"validity not a function of the patterns at {text}")
                seen.add(ok)
            if len(seen) > 1:
                mixed.add(prefix)
            else:
                valid[npa - FIRST, nxx - FIRST] = seen.pop()
    return valid, mixed


def read_table(path: Path | None = None) -> tuple[np.ndarray, frozenset[int], str]:
    """The shipped (or given) table: valid grid, mixed prefixes, phonenumbers version."""
    source = path or resources.files("tracehop").joinpath(TABLE_FILE)
    with source.open("rb") as f, np.load(f, allow_pickle=False) as data:
        valid = data["valid"].astype(bool)
        mixed = frozenset(int(p) for p in data["mixed"])
        version = str(data["phonenumbers_version"])
    if valid.shape != (SIDE, SIDE):
        raise ValueError(f"NANP table has shape {valid.shape}, not {(SIDE, SIDE)}")
    return valid, mixed, version


@functools.cache
def _shipped() -> tuple[np.ndarray, frozenset[int], bytes] | None:
    """The shipped table and its lookup bytes (a byte a 6-digit prefix: 0 invalid, 1 valid,
    2 ask phonenumbers) if it matches the installed phonenumbers; else None, warned once."""
    try:
        valid, mixed, version = read_table()
    except (OSError, ValueError, KeyError) as e:
        logger.warning("NANP validity table unreadable (%s): asking phonenumbers per number", e)
        return None
    if version != phonenumbers.__version__:
        why = f"built with phonenumbers {version}, installed {phonenumbers.__version__}"
        logger.warning("NANP validity table %s: asking phonenumbers per number", why)
        return None
    codes = np.full(1_000_000, _ASK, dtype=np.uint8)
    codes[PREFIXES] = valid.ravel()
    codes[sorted(mixed)] = _ASK
    return valid, mixed, codes.tobytes()


@functools.cache
def _table() -> tuple[np.ndarray, frozenset[int]]:
    if (shipped := _shipped()) is not None:
        return shipped[0], shipped[1]
    valid, mixed = build_table()
    return valid, frozenset(mixed)


@functools.cache
def valid_prefixes() -> np.ndarray:
    """Sorted NPA*1000+NXX prefixes (int32, read-only) valid for every line number."""
    out = PREFIXES[_table()[0].ravel()].astype(np.int32)
    out.flags.writeable = False
    return out


def mixed_prefixes() -> frozenset[int]:
    """Prefixes whose validity depends on the line number."""
    return _table()[1]


@functools.lru_cache(maxsize=65536)
def phonenumbers_valid(national: str) -> bool:
    """``phonenumbers`` validity of ``+1`` and the national number (what the table stands for)."""
    try:
        parsed = phonenumbers.parse("+1" + national, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(parsed)


def nanp_valid(national: str) -> bool:
    """Whether ``+1`` + ``national`` is a valid number, as ``phonenumbers`` says.

    Meant for 10 ASCII digits with NPA and NXX starting 2-9; anything else, a mixed prefix, or a
    table not matching the installed phonenumbers is answered by :func:`phonenumbers_valid`.
    """
    shipped = _shipped()
    if shipped is not None and len(national) == 10 and national.isascii() and national.isdigit():
        code = shipped[2][int(national[:6])]
        if code != _ASK:
            return code == _VALID
    return phonenumbers_valid(national)
