"""Error and cost of the sampled availability estimate against the exact value.

For subnets above the exact limit, availability is estimated from a fixed set of
source hosts.  This measures, on random isolation patterns, the absolute error of the
estimated ratio (current / base efficiency) and the time of one recompute.
"""

from __future__ import annotations

import time

import numpy as np

from twin.availability import AvailabilityCache
from twin.topology import GENERATORS, assemble


def bench_availability(
    nodes: int, *, sources: int = 128, generator: str = "tree", trials: int = 40, seed: int = 0
) -> dict:
    rng = np.random.default_rng(seed)
    net = assemble([GENERATORS[generator](nodes, rng)], rng=rng)
    exact = AvailabilityCache(net, batch=trials, exact_limit=nodes)
    sampled = AvailabilityCache(net, batch=trials, sources=sources, exact_limit=0)
    errors = {}
    timings = {"exact": 0.0, "sampled": 0.0}
    for frac in (0.02, 0.1, 0.3):
        isolated = rng.random((trials, net.n_nodes)) < frac
        out = {}
        for name, cache in (("exact", exact), ("sampled", sampled)):
            cache.dirty[:] = True
            start = time.perf_counter()
            out[name] = cache.availability(isolated)
            timings[name] += (time.perf_counter() - start) / trials / 3
        err = np.abs(out["exact"] - out["sampled"])
        errors[f"isolated_{frac:g}"] = {
            "mean_abs_error": round(float(err.mean()), 4),
            "max_abs_error": round(float(err.max()), 4),
            "mean_exact": round(float(out["exact"].mean()), 4),
        }
    return {
        "nodes": nodes,
        "generator": generator,
        "sources": sources,
        "trials": trials,
        "errors": errors,
        "exact_ms_per_recompute": round(timings["exact"] * 1e3, 3),
        "sampled_ms_per_recompute": round(timings["sampled"] * 1e3, 3),
    }
