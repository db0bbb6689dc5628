"""Test-suite root: puts ``tests/`` on ``sys.path`` so tests can import ``reference_sim``."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:  # pytest's default import mode does this too; keep it explicit
    sys.path.insert(0, _TESTS)
