"""The HTTP shells: FastAPI apps that are thin routes over the library (DESIGN.md: library
first). ``node``: a provider's node (traceback requests); ``hub``: the hub's read-only API;
``errors``: the one error shape every app installs; ``inprocess``: nodes served in this
process through their real ASGI apps (the demo and the tests).

Nothing here is imported by the library: the CLI and the demo import these modules when they
serve something.
"""
