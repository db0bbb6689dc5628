"""Reliability tests reuse the local stand-ins of tests/bot and tests/graph (fake Slack Web API, fake
chat-completions server), and leave no log redaction installed behind them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent.parent
for folder in ("bot", "graph"):
    if str(_TESTS / folder) not in sys.path:
        sys.path.insert(0, str(_TESTS / folder))


@pytest.fixture(autouse=True)
def _no_redaction_left_installed():
    """``serve`` and ``demo`` install the secret filter process-wide; undo it after each test."""
    yield
    from bot.log_redaction import uninstall_redaction

    uninstall_redaction()
