"""The node: a provider's tracehop answering traceback requests from the hub.

Library side only (no web framework here): ``service.NodeService`` authenticates, rate-limits,
stores, answers and audits; ``tokens`` keeps the tokens the operator issued; ``ratelimit`` and
``audit`` are its parts. ``tracehop.api.node`` serves it over HTTP as thin routes.
"""
