"""The simulator: a telephone network with legal traffic and illegal robocall campaigns.

``simulate(out, seed=..., days=..., scale=..., scenario=...)`` writes each provider's CDRs (in
the four switch formats tracehop reads), its customers, complaints and honeypot hits, and the
ground truth. See docs/simulator.md.
"""

from tracehop.simulate.run import SimResult, hop_tolerance, load_world_info, simulate
from tracehop.simulate.scenarios import CAMPAIGNS, SCENARIOS, Scenario

__all__ = [
    "CAMPAIGNS",
    "SCENARIOS",
    "Scenario",
    "SimResult",
    "hop_tolerance",
    "load_world_info",
    "simulate",
]
