"""Save and restore a simulator's state, so a restarted process carries on with the same twin.

The snapshot holds every state array and the random generator's state, so the twin
after a restore is the very twin before it: the same hosts compromised, seen and
isolated, and the same attacks to come.  The network itself is not in it (it is
rebuilt from the scenario); a snapshot of another network is refused by
:func:`restore_state`, and carried over host by host by :func:`remap_state` (after a
re-import of the inventory).
"""

from __future__ import annotations

import hashlib
import io
import json
import weakref
import zlib

import numpy as np

from twin.sim import Simulator

STATE_ARRAYS = ("compromised", "visible", "isolated", "vulnerability", "t", "hvn_lost",
                "attack_targets", "attack_success")
BOOL_ARRAYS = ("compromised", "visible", "isolated", "hvn_lost", "attack_success")  # stored as bits
# per network: (fingerprint, host names zlib-compressed); names never change, so this is computed once
_names: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class SnapshotError(ValueError):
    """A snapshot that does not fit the simulator it is restored into."""


def dump_state(sim: Simulator, *, note: dict | None = None) -> bytes:
    """The simulator's state as ``.npz`` bytes: flags packed as bits, host names compressed once per network.

    A snapshot takes well under a millisecond on a 10,000-host twin.  ``note``: a small JSON
    object the caller wants back with the snapshot (:func:`snapshot_note`).
    """
    buffer = io.BytesIO()
    fingerprint, names = _names_of(sim)
    meta = {"rng": sim.rng.bit_generator.state, "hosts": sim.network.n_nodes, "batch": sim.batch,
            "names": fingerprint, "packed": True, "note": note or {}}
    arrays = {name: np.packbits(getattr(sim, name), axis=-1) if name in BOOL_ARRAYS else getattr(sim, name)
              for name in STATE_ARRAYS}
    np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), host_names=names, **arrays)
    return buffer.getvalue()


def snapshot_note(blob: bytes) -> dict:
    """The ``note`` saved with a snapshot ({} for snapshots saved without one)."""
    with np.load(io.BytesIO(blob)) as data:
        return json.loads(bytes(data["meta"]).decode()).get("note", {})


def _arrays(data, meta: dict, sim_like: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """The state arrays of a loaded snapshot, bits unpacked (older snapshots stored them as bools)."""
    out = {}
    for name in STATE_ARRAYS:
        value = data[name]
        if meta.get("packed") and name in BOOL_ARRAYS:
            value = np.unpackbits(value, axis=-1, count=sim_like[name][-1]).astype(bool).reshape(sim_like[name])
        out[name] = value
    return out


def _saved_names(data, meta: dict) -> list[str] | None:
    if "host_names" in meta:  # snapshots written before names were compressed
        return meta["host_names"]
    if "host_names" in data.files:
        return zlib.decompress(bytes(data["host_names"])).decode().split("\n")
    return None


def restore_state(sim: Simulator, blob: bytes) -> None:
    """Put ``sim`` in the state saved by :func:`dump_state`; SnapshotError if it is another twin."""
    with np.load(io.BytesIO(blob)) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        if meta["hosts"] != sim.network.n_nodes or meta["batch"] != sim.batch or meta["names"] != _fingerprint(sim):
            raise SnapshotError(f"the saved twin ({meta['hosts']} hosts) is not this twin "
                                f"({sim.network.n_nodes} hosts): was the scenario changed?")
        state = _arrays(data, meta, {name: getattr(sim, name).shape for name in STATE_ARRAYS})
    for name in STATE_ARRAYS:
        getattr(sim, name)[...] = state[name]
    sim.rng.bit_generator.state = meta["rng"]
    sim.availability_cache.mark_dirty(np.arange(sim.batch)[:, None], np.arange(sim.network.n_subnets)[None, :])


def remap_state(blob: bytes, sim: Simulator) -> tuple[list[str], list[str]]:
    """Carry a snapshot of another host set into ``sim`` by host name; returns ``(retired, added)``.

    Hosts in both keep their state (compromise, sighting, isolation, vulnerability);
    hosts only in the snapshot are retired, hosts only in ``sim`` start clean.  A
    high-value host counts as lost only while one of ``sim``'s is compromised.
    SnapshotError for a snapshot without host names (written before they were kept) and
    for one that shares no host with ``sim`` (another network altogether, not a re-import).
    """
    with np.load(io.BytesIO(blob)) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        if meta["batch"] != sim.batch:
            raise SnapshotError(f"the saved twin has {meta['batch']} environments, this one {sim.batch}")
        saved_names = _saved_names(data, meta)
        if saved_names is None:
            if meta["names"] == _fingerprint(sim):
                restore_state(sim, blob)
                return [], []
            raise SnapshotError("the saved twin predates host names in snapshots, so it cannot be "
                                "carried over to another host set; start afresh")
        saved = {name: i for i, name in enumerate(saved_names)}
        n_old = len(saved_names)
        shapes = {name: getattr(sim, name).shape for name in STATE_ARRAYS}
        for name in ("compromised", "visible", "isolated", "vulnerability"):
            shapes[name] = (sim.batch, n_old)
        width = data["attack_targets"].shape[-1]
        shapes["attack_targets"] = shapes["attack_success"] = (sim.batch, width)
        state = _arrays(data, meta, shapes)
    net = sim.network
    kept = [(saved[name], i) for i, name in enumerate(net.names) if name in saved]
    if not kept:
        raise SnapshotError(f"the saved twin ({len(saved)} hosts) shares no host with this one "
                            f"({net.n_nodes} hosts): was the scenario changed?")
    old_idx = np.array([k[0] for k in kept], dtype=np.int64)
    new_idx = np.array([k[1] for k in kept], dtype=np.int64)
    for name in ("compromised", "visible", "isolated"):
        getattr(sim, name)[...] = False
        getattr(sim, name)[:, new_idx] = state[name][:, old_idx]
    sim.vulnerability[:, new_idx] = state["vulnerability"][:, old_idx]  # new hosts keep theirs as drawn
    sim.t[...] = state["t"]
    sim.hvn_lost[...] = (sim.compromised & net.high_value).any(axis=1)
    to_new = np.full(len(saved) + 1, -1, dtype=np.int64)  # last slot: the -1 "no attempt" index
    to_new[old_idx] = new_idx
    width = min(sim.intensity, state["attack_targets"].shape[1])
    targets = to_new[state["attack_targets"][:, :width]]
    sim.attack_targets[...] = -1
    sim.attack_success[...] = False
    sim.attack_targets[:, :width] = targets
    sim.attack_success[:, :width] = state["attack_success"][:, :width] & (targets >= 0)
    sim.rng.bit_generator.state = meta["rng"]
    sim.availability_cache.mark_dirty(np.arange(sim.batch)[:, None], np.arange(net.n_subnets)[None, :])
    names = set(net.names)
    return [n for n in saved_names if n not in names], [n for n in net.names if n not in saved]


def _names_of(sim: Simulator) -> tuple[str, np.ndarray]:
    net = sim.network
    if net not in _names:
        joined = "\n".join(net.names).encode()
        _names[net] = (hashlib.sha256(joined).hexdigest()[:16], np.frombuffer(zlib.compress(joined), dtype=np.uint8))
    return _names[net]


def _fingerprint(sim: Simulator) -> str:
    return _names_of(sim)[0]
