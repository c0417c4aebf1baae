"""The dashboard (a shell, like ``tracehop.api``): server-rendered pages over the same library
functions as the JSON API; Jinja2 templates (autoescaped), a stylesheet and a little
JavaScript served from ``static/`` (nothing from a CDN, nothing fetched at run time)."""
