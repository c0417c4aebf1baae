"""Screening on the call path (docs/screening.md): rules as data (``rules``), kept in the state
DB (``state``), compiled into an in-memory index (``index``) that decides a call in
microseconds (``engine``), answered over SIP redirect (``sip``, ``sipmsg``) and HTTP
(``tracehop.api.screen``), with velocity counters (``counters``), Do-Not-Originate lists
(``dno``), the audit of every block (``audit``) and a what-if replay over the lake
(``replay``).

Bottom to top: ``rules`` <- ``index`` <- ``counters`` <- ``engine``; ``state``, ``dno`` and
``audit`` feed the engine; ``sipmsg`` <- ``sip``. No module imports one above it.
"""
