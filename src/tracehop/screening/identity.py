"""Screening on STIR/SHAKEN: the redirect server verifies an INVITE's Identity header in
process and acts on the result as a policy says (docs/screening.md, "STIR/SHAKEN").

The policy is data: a verification outcome (a ``tracehop.shaken.result.Reason``: ``valid``,
``missing``, ``stale``, ``bad_signature``, ...) -> an action:

- ``continue``: the 302 as without verification;
- ``annotate``: the 302 carries the result, ``X-Tracehop-Verstat`` (ATIS-1000074's verstat:
  ``TN-Validation-Passed``/``-Failed``/``No-TN-Validation``) and ``X-Tracehop-Identity``
  (the exact reason), for the switch to pass on to the called party's display;
- ``block``: the verifier's own answer, the reason's SIP code (438 Invalid Identity Header,
  437 Unsupported Credential, 436 Bad Identity Info, 403 Stale Date, 428 Use Identity Header:
  RFC 8224 section 6.2.2) with ``Reason: STIR;cause=<code>;text="..."`` (RFC 8224 section
  6.2.2 and RFC 9410 carry STIR failures in a Reason header with protocol ``STIR``).

Setting ``TRACEHOP_SCREEN_IDENTITY``: ``REASON=ACTION`` pairs, comma-separated; ``failed``
names every failure not named itself, ``default`` everything else. Empty (the default):
Identity headers are not verified at all. ``missing`` (no header) is ``continue`` unless named
itself: many legal calls are unsigned (non-IP legs, small providers), so an absent header
never blocks by accident. Emergency calls are never blocked (47 CFR 9.4), whatever the policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tracehop.errors import ConfigError
from tracehop.shaken.result import Reason, VerifyResult

if TYPE_CHECKING:
    from tracehop.shaken.verify import Verifier

ACTIONS = ("continue", "annotate", "block")
GROUPS = ("failed", "default")


@dataclass(frozen=True)
class IdentityPolicy:
    """Verification outcome -> action (``continue``, ``annotate``, ``block``)."""

    actions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> IdentityPolicy:
        """``bad_signature=block,stale=block,failed=annotate`` (setting
        ``TRACEHOP_SCREEN_IDENTITY``); a bare action is ``default=<action>``."""
        known = {r.value for r in Reason} | set(GROUPS)
        actions: dict[str, str] = {}
        for item in (s.strip() for s in spec.split(",")):
            if not item:
                continue
            name, sep, action = item.partition("=")
            if not sep:
                name, action = "default", name
            name, action = name.strip().lower(), action.strip().lower()
            if name not in known or action not in ACTIONS:
                raise ConfigError(
                    f"TRACEHOP_SCREEN_IDENTITY: {item!r}: give REASON=ACTION with ACTION one "
                    f"of {', '.join(ACTIONS)} and REASON a verification reason "
                    f"(valid, missing, stale, bad_signature, ...), failed or default"
                )
            if name == Reason.VALID and action == "block":
                raise ConfigError("TRACEHOP_SCREEN_IDENTITY: a valid signature cannot block")
            actions[name] = action
        return cls(actions)

    @property
    def active(self) -> bool:
        return bool(self.actions)

    def action(self, reason: Reason) -> str:
        if reason.value in self.actions:
            return self.actions[reason.value]
        if reason is Reason.MISSING:  # never blocks unless named itself
            return "continue"
        if reason is not Reason.VALID and "failed" in self.actions:
            return self.actions["failed"]
        return self.actions.get("default", "continue")


@dataclass(frozen=True)
class IdentityOutcome:
    action: str
    result: VerifyResult

    def annotations(self) -> list[tuple[str, str]]:
        return [
            ("X-Tracehop-Verstat", self.result.verstat),
            ("X-Tracehop-Identity", str(self.result.reason)),
        ]

    def reject(self) -> tuple[int, str, list[tuple[str, str]]]:
        """(code, phrase, headers) of a block: the verifier's answer for the reason."""
        code = self.result.sip_code or 438
        phrase = self.result.sip_reason or "Invalid Identity Header"
        # RFC 8224 6.2.2 / RFC 9410: the STIR cause in a Reason header
        return code, phrase, [("Reason", f'STIR;cause={code};text="{phrase}"')]


class IdentityCheck:
    """A verifier (one per process: thread-safe, its certificate cache shared on disk) and a
    policy: what the redirect server asks per INVITE."""

    def __init__(self, verifier: Verifier, policy: IdentityPolicy) -> None:
        self.verifier = verifier
        self.policy = policy

    def check(self, identity: str | None, *, orig: str | None, dest: str | None) -> IdentityOutcome:
        """Verify ``identity`` (the INVITE's header, None when it has none) against the
        caller and called number, now (the verifier's clock)."""
        result = self.verifier.verify(identity, orig=orig, dest=dest)
        return IdentityOutcome(self.policy.action(result.reason), result)

    def close(self) -> None:
        self.verifier.close()
