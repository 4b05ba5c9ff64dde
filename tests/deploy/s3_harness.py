"""What the deploy tests share besides the S3 server (tests/seaweedfs.py).

Kept out of conftest.py so test modules can import it (tests/ folders are not packages).
"""

from __future__ import annotations

from pathlib import Path

from seaweedfs import ADMIN, READER, S3Server, free_ports

REPO = Path(__file__).resolve().parents[2]
FIXTURE_SPECS = Path(__file__).resolve().parent / "project" / "specs"

__all__ = ["ADMIN", "FIXTURE_SPECS", "READER", "REPO", "S3Server", "free_ports"]
