"""Test-suite root: puts ``tests/`` on ``sys.path`` so tests can import ``reference_sim``,
and offers a factory for tiny hand-built networks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:  # pytest's default import mode does this too; keep it explicit
    sys.path.insert(0, _TESTS)

import tiny  # noqa: E402  (needs the path above)


@pytest.fixture
def tiny_network():
    """Factory: ``tiny_network([("a", "b")], entry=("a",), high_value=("b",))``."""
    return tiny.tiny_network


@pytest.fixture(scope="session")
def weights():
    """The four shipped agents, loaded once for the whole run (``Defence(agents=weights)``)."""
    from rl_agents.policy import AGENT_ACTIONS
    from rl_agents.weights import load_agent

    return {name: load_agent(name) for name in AGENT_ACTIONS}
