"""Who may do what: users (people, with passwords, for the dashboard), API tokens (machines:
the hub, the screening integration, scripts) and the roles that say what each may do.

Library only: the web shell (``tracehop.api``) asks ``principal_for_token`` /
``login`` who is asking and ``Principal.can`` whether they may.
"""
