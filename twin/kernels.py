"""Compiled graph kernels (numba) for what arrays cannot express well: breadth-first search.

Global efficiency needs shortest-path lengths; a BFS over CSR arrays compiled with
numba costs a few microseconds on a 30-host subnet, where scipy's csgraph spends most
of its time validating input and numpy would need O(n^3) matrix products.
``cache=True`` keeps the compiled code on disk next to this file.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def efficiency_sum(indptr, indices, keep, sources, dist, queue):  # pragma: no cover - compiled
    """Sum of ``1/d(s, v)`` over the sources ``s`` and every host ``v`` they reach.

    Links touching a host where ``keep`` is False are down.  ``dist`` and ``queue``
    are scratch arrays of length n (passed in so a batch allocates them once).
    """
    total = 0.0
    for s in sources:
        if not keep[s]:
            continue
        dist[:] = -1
        dist[s] = 0
        head, tail = 0, 1
        queue[0] = s
        while head < tail:
            u = queue[head]
            head += 1
            du = dist[u] + 1
            for j in range(indptr[u], indptr[u + 1]):
                v = indices[j]
                if dist[v] < 0 and keep[v]:
                    dist[v] = du
                    total += 1.0 / du
                    queue[tail] = v
                    tail += 1
    return total


@numba.njit(cache=True, nogil=True)
def batch_efficiency_sum(indptr, indices, keep, sources):  # pragma: no cover - compiled
    """``efficiency_sum`` for each row of ``keep`` (shape ``(D, n)``)."""
    d, n = keep.shape
    out = np.zeros(d)
    dist = np.empty(n, np.int64)
    queue = np.empty(n, np.int64)
    for i in range(d):
        out[i] = efficiency_sum(indptr, indices, keep[i], sources, dist, queue)
    return out


# ------------------------------------------------------------------ simulator
# Action and attack-mode codes shared with twin/sim.py.
NOOP, ISOLATE, RECOVER, RESET, PATCH = 0, 1, 2, 3, 4
MODE_RANDOM, MODE_RECON, MODE_PENETRATE, MODE_IMPACT = 0, 1, 2, 3
MIN_VULNERABILITY = 0.01
PATCH_STEP = 0.5
PENETRATE_IMPACT_P = 0.4


@numba.njit(cache=True, nogil=True)
def attackable_row(comp, iso, indptr, indices, entry, out):  # pragma: no cover - compiled
    """Fill ``out`` with the attackable hosts of one twin (rule in twin/sim.py)."""
    n = comp.shape[0]
    out[:] = False
    for u in range(n):  # hosts linked by an up link to a compromised, non-isolated host
        if comp[u] and not iso[u]:
            for j in range(indptr[u], indptr[u + 1]):
                out[indices[j]] = True
    for v in range(n):
        out[v] = (out[v] or entry[v]) and not comp[v] and not iso[v]


@numba.njit(cache=True, nogil=True)
def attackable_batch(comp, iso, indptr, indices, entry):  # pragma: no cover - compiled
    b, n = comp.shape
    out = np.zeros((b, n), np.bool_)
    for i in range(b):
        attackable_row(comp[i], iso[i], indptr, indices, entry, out[i])
    return out


@numba.njit(cache=True, nogil=True)
def act_batch(kinds, nodes, iso, comp, vis, vuln, subnet_of, dirty, changed):  # pragma: no cover
    """Apply ``kinds[b, k]`` on ``nodes[b, k]`` in order; mark link changes dirty."""
    for b in range(kinds.shape[0]):
        for k in range(kinds.shape[1]):
            kind, x = kinds[b, k], nodes[b, k]
            if kind == ISOLATE and not iso[b, x]:  # cut every link of the host
                iso[b, x] = True
                dirty[b, subnet_of[x]] = True
                changed[b, k] = True
            elif kind == RECOVER and iso[b, x]:  # links return to non-isolated neighbours
                iso[b, x] = False
                dirty[b, subnet_of[x]] = True
                changed[b, k] = True
            elif kind == RESET and (comp[b, x] or vis[b, x]):  # clean, and seen clean
                comp[b, x] = False
                vis[b, x] = False
                changed[b, k] = True
            elif kind == PATCH and vuln[b, x] > MIN_VULNERABILITY:  # lowers 1/(2-v)
                vuln[b, x] = max(vuln[b, x] - PATCH_STEP, MIN_VULNERABILITY)
                changed[b, k] = True


@numba.njit(cache=True, nogil=True)
def attack_batch(
    mode, draws, n_subnets, live, comp, vis, iso, vuln, indptr, indices, entry, neg_hops,
    subnet_of, p_detect, targets, success,
):  # pragma: no cover - compiled
    """Run ``targets.shape[1]`` attack attempts in every live twin.

    ``draws`` holds this step's uniform numbers in the order of the protocol in
    twin/sim.py: per attempt, the mode's choice draws for the whole batch, then
    success ``u(B)``, then detection ``u(B)``.  Choices are argmax over masked scores,
    first index winning ties, exactly as ``numpy.argmax`` would pick.
    """
    bsz, n = comp.shape
    s_cnt = n_subnets
    if mode == MODE_RECON:
        per = bsz * s_cnt + bsz * n + 2 * bsz
    elif mode == MODE_IMPACT:
        per = bsz * n + 2 * bsz
    elif mode == MODE_PENETRATE:
        per = bsz + bsz * n + 2 * bsz
    else:
        per = 3 * bsz
    att = np.zeros(n, np.bool_)
    has = np.zeros(s_cnt, np.bool_)
    for b in range(bsz):
        for k in range(targets.shape[1]):
            targets[b, k] = -1
            success[b, k] = False
            if not live[b]:
                continue
            base = k * per
            valid = True
            target = 0
            if mode == MODE_RANDOM:
                target = min(int(draws[base + b] * n), n - 1)
                tail = base + bsz
            else:
                attackable_row(comp[b], iso[b], indptr, indices, entry, att)
                valid = False
                for v in range(n):
                    if att[v]:
                        valid = True
                        break
                if mode == MODE_RECON:
                    has[:] = False
                    for v in range(n):
                        if att[v]:
                            has[subnet_of[v]] = True
                    best_s, best = 0, -np.inf
                    for s in range(s_cnt):
                        score = draws[base + b * s_cnt + s] if has[s] else -1.0
                        if score > best:
                            best_s, best = s, score
                    off = base + bsz * s_cnt + b * n
                    best = -np.inf
                    for v in range(n):
                        score = draws[off + v] if att[v] and subnet_of[v] == best_s else -1.0
                        if score > best:
                            target, best = v, score
                    tail = base + bsz * s_cnt + bsz * n
                else:
                    impact = True
                    off = base + b * n
                    tail = base + bsz * n
                    if mode == MODE_PENETRATE:
                        impact = draws[base + b] < PENETRATE_IMPACT_P
                        off = base + bsz + b * n
                        tail = base + bsz + bsz * n
                    best = -np.inf
                    target = 0
                    for v in range(n):
                        if not att[v]:
                            continue
                        u = draws[off + v]
                        score = neg_hops[v] + 0.5 * u if impact else vuln[b, v] + 1e-9 * u
                        if score > best:
                            target, best = v, score
            if not valid:
                continue
            targets[b, k] = target
            # an isolated host is out of reach even for the random attacker
            reachable = not comp[b, target] and not iso[b, target]
            if 100.0 / (2.0 - vuln[b, target]) > draws[tail + b] * 100.0 and reachable:
                success[b, k] = True
                comp[b, target] = True
                if draws[tail + bsz + b] < p_detect:
                    vis[b, target] = True
