"""Save and restore a simulator's state, so a restarted process carries on with the same twin.

The snapshot holds every state array and the random generator's state, so the twin
after a restore is the very twin before it: the same hosts compromised, seen and
isolated, and the same attacks to come.  The network itself is not in it (it is
rebuilt from the scenario); a snapshot of another network is refused.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np

from twin.sim import Simulator

STATE_ARRAYS = ("compromised", "visible", "isolated", "vulnerability", "t", "hvn_lost",
                "attack_targets", "attack_success")


class SnapshotError(ValueError):
    """A snapshot that does not fit the simulator it is restored into."""


def dump_state(sim: Simulator) -> bytes:
    """The simulator's state as compressed ``.npz`` bytes."""
    buffer = io.BytesIO()
    meta = {"rng": sim.rng.bit_generator.state, "hosts": sim.network.n_nodes, "batch": sim.batch,
            "names": _fingerprint(sim)}
    np.savez_compressed(buffer, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                        **{name: getattr(sim, name) for name in STATE_ARRAYS})
    return buffer.getvalue()


def restore_state(sim: Simulator, blob: bytes) -> None:
    """Put ``sim`` in the state saved by :func:`dump_state`; SnapshotError if it is another twin."""
    with np.load(io.BytesIO(blob)) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        if meta["hosts"] != sim.network.n_nodes or meta["batch"] != sim.batch or meta["names"] != _fingerprint(sim):
            raise SnapshotError(f"the saved twin ({meta['hosts']} hosts) is not this twin "
                                f"({sim.network.n_nodes} hosts): was the scenario changed?")
        for name in STATE_ARRAYS:
            getattr(sim, name)[...] = data[name]
    sim.rng.bit_generator.state = meta["rng"]
    sim.availability_cache.mark_dirty(np.arange(sim.batch)[:, None], np.arange(sim.network.n_subnets)[None, :])


def _fingerprint(sim: Simulator) -> str:
    return hashlib.sha256("\n".join(sim.network.names).encode()).hexdigest()[:16]
