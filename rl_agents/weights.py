"""Saving and loading agents: a plain state_dict, a JSON manifest, and a checked sha256.

Weights are tensors only (``torch.load(weights_only=True)``), never a pickle of
objects, so a weights file cannot run code.  The manifest says how the file was made
(arguments, seed, steps, the command, torch version) and its sha256; loading refuses
a file whose bytes do not match, so a swapped or corrupted agent never acts.

Layouts: a shipped agent is ``rl_agents/weights/<name>.pt`` with ``<name>.json``; a
training run folder holds ``<agent>.pt`` and ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rl_agents.policy import AGENT_ACTIONS, RegionPolicy
from twin.observation import FEATURES

SHIPPED = Path(__file__).resolve().parent / "weights"


class WeightsError(ValueError):
    """A weights file that is missing, unreadable or does not match its manifest."""


def file_sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class RegionAgent:
    """A loaded, verified agent: its name, action kind, policy (eval mode) and manifest."""

    name: str
    kind: str
    policy: RegionPolicy
    manifest: dict

    def choose(self, nodes: np.ndarray, edges: np.ndarray) -> int | None:
        """The host (local index) this agent acts on in a region, or None when its action has no use."""
        return self.policy.choose(nodes, edges, self.kind)


def save_agent(policy: RegionPolicy, path: Path | str, *, agent: str, manifest: dict | None = None,
               manifest_path: Path | str | None = None) -> dict:
    """Write ``policy``'s state_dict to ``path`` and its manifest (default: ``manifest.json`` beside it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(policy.state_dict(), path)
    full = {
        "agent": agent, "action": AGENT_ACTIONS[agent], "weights": path.name, "sha256": file_sha256(path),
        "policy": dict(policy.config), "features": list(FEATURES), "torch": torch.__version__,
        **(manifest or {}),
    }
    target = Path(manifest_path) if manifest_path else path.parent / "manifest.json"
    target.write_text(json.dumps(full, indent=2) + "\n")
    return full


def _locate(path_or_name: Path | str, shipped: tuple[str, ...] = tuple(AGENT_ACTIONS)) -> tuple[Path, Path]:
    """(weights, manifest) for a shipped agent name, a run folder, or a weights file."""
    if isinstance(path_or_name, str) and path_or_name in shipped:
        return SHIPPED / f"{path_or_name}.pt", SHIPPED / f"{path_or_name}.json"
    path = Path(path_or_name)
    if path.is_dir():
        manifest = path / "manifest.json"
        if not manifest.exists():
            raise WeightsError(f"{path}: no manifest.json in this folder")
        return path / json.loads(manifest.read_text())["weights"], manifest
    beside = path.with_suffix(".json")
    return path, beside if beside.exists() else path.parent / "manifest.json"


def verified_state(
    path_or_name: Path | str, *, shipped: tuple[str, ...] = tuple(AGENT_ACTIONS), agents: tuple[str, ...] | None = None,
) -> tuple[dict, dict]:
    """``(state_dict, manifest)`` of a weights file whose sha256 and features match its manifest.

    ``agents`` (when given) are the manifest ``agent`` values accepted.  Loads with
    ``torch.load(weights_only=True)``: tensors only, never a pickle of objects.
    """
    weights, manifest_path = _locate(path_or_name, shipped)
    for f in (weights, manifest_path):
        if not f.exists():
            raise WeightsError(f"{f}: no such file (agent {str(path_or_name)!r})")
    manifest = json.loads(manifest_path.read_text())
    if agents is not None and manifest.get("agent") not in agents:
        raise WeightsError(f"{manifest_path}: holds agent {manifest.get('agent')!r}, not {' or '.join(map(repr, agents))}")
    actual = file_sha256(weights)
    if actual != manifest.get("sha256"):
        raise WeightsError(
            f"{weights}: sha256 {actual} does not match {manifest.get('sha256')} in {manifest_path}; refusing to load"
        )
    if manifest.get("features") != list(FEATURES):
        raise WeightsError(f"{weights}: trained on features {manifest.get('features')}, the twin now gives {list(FEATURES)}")
    return torch.load(weights, map_location="cpu", weights_only=True), manifest


def load_agent(path_or_name: Path | str) -> RegionAgent:
    """Load and verify an agent: a shipped name (fortify, block, purge, recover), a run folder or a ``.pt`` file."""
    state, manifest = verified_state(path_or_name)
    policy = RegionPolicy(**manifest["policy"])
    policy.load_state_dict(state)
    policy.eval()
    return RegionAgent(name=manifest["agent"], kind=manifest["action"], policy=policy, manifest=manifest)
