"""The node's audit log: one JSON line per event in ``HOME/audit.log`` (append-only)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from tracehop.times import SYSTEM, Clock


class AuditLog:
    def __init__(self, path: Path, *, clock: Clock = SYSTEM) -> None:
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()

    def write(self, **fields: Any) -> None:
        line = json.dumps({"at": self.clock.now().isoformat(), **fields}, default=str)
        with self._lock:
            # owner-only from the first line (docs/security.md), whatever the umask
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as fh:
                fh.write(line + "\n")

    def read(self) -> list[dict[str, Any]]:
        """Every event, oldest first (for tests and reviews)."""
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text().splitlines() if x.strip()]
