"""``cyberops twin import``: build the twin from a real network's inventory.

Reads our inventory, AWS CLI JSON and Kubernetes JSON (mixed), prints what the twin
will be, and with ``--out`` writes the inventory and a scenario that runs it.  A
re-import over an earlier one says which hosts were added, retired and kept; the
running bot carries the kept hosts' state over when it restarts on the scenario.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from twin.errors import InputError

SHOWN = 10  # names listed per line of the summary


def add_twin_commands(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("twin", help="build the twin from your network's inventory",
                       description="Build the twin from your network's inventory.")
    tsub = t.add_subparsers(dest="twin", required=True, metavar="ACTION")
    i = tsub.add_parser(
        "import", help="import inventory files (ours, AWS CLI JSON, Kubernetes JSON) and write a scenario",
        description="Read one or more inventory files, in any mix of formats (our inventory YAML/JSON, "
                    "`aws ec2 describe-vpcs|describe-subnets|describe-instances|describe-security-groups|"
                    "describe-route-tables` JSON, `kubectl get namespaces,pods,services,ingresses,networkpolicies "
                    "-o json`), and print the twin they make: subnets, hosts, links, entry and high-value hosts. "
                    "With --out, write the inventory (SCENARIO-inventory.yaml beside it) and the scenario; "
                    "over an earlier import, say which hosts were added, retired and kept.",
    )
    i.add_argument("files", nargs="+", metavar="FILE", help="inventory files")
    i.add_argument("--out", metavar="SCENARIO", help="scenario YAML to write (its inventory goes beside it)")
    i.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    i.set_defaults(func=_cmd_twin_import)


def _cmd_twin_import(args: argparse.Namespace) -> int:
    from twin.importers import read_inventory

    imported = read_inventory(args.files)
    summary = summarise(imported.graph) | {"files": [str(f) for f in args.files], "notes": imported.notes,
                                           "changes": None, "wrote": None}
    if args.out:
        summary |= write_import(imported.graph, Path(args.out), sources=args.files)
    print(json.dumps(summary) if args.json else format_summary(summary))
    return 0


def summarise(graph: Any) -> dict[str, Any]:
    subnets: dict[str, int] = {}
    for _, data in graph.nodes(data=True):
        subnets[data["subnet"]] = subnets.get(data["subnet"], 0) + 1
    between = sum(graph.nodes[a]["subnet"] != graph.nodes[b]["subnet"] for a, b in graph.edges())
    return {"subnets": subnets, "hosts": graph.number_of_nodes(), "links": graph.number_of_edges(),
            "gateway_links": between,
            "entry": [str(h) for h, d in graph.nodes(data=True) if d.get("entry")],
            "high_value": [str(h) for h, d in graph.nodes(data=True) if d.get("high_value")]}


def write_import(graph: Any, out: Path, *, sources: list[str]) -> dict[str, Any]:
    """Write the inventory beside ``out`` and the scenario at ``out`` (kept if it already runs that
    inventory, so an operator's edits survive a re-import); returns the changes and paths."""
    from twin.build import build_network
    from twin.importers.writer import host_changes, inventory_document, scenario_document, write_yaml
    from twin.scenario import load_scenario
    from twin.topology_file import load_topology_file

    if out.suffix.lower() not in (".yaml", ".yml"):
        raise InputError("command line", "--out", f"the scenario is written as YAML: end it in .yaml, not {out.name!r}")
    if not out.parent.is_dir():
        raise InputError("command line", "--out", f"no such folder: {out.parent}")
    inventory = out.with_name(f"{out.stem}-inventory.yaml")
    old = load_topology_file(inventory) if inventory.exists() else None
    keep_scenario = False
    if out.exists():
        existing = load_scenario(out)
        runs = existing.topology_file()
        if existing.topology.generator != "file" or runs is None or runs.resolve() != inventory.resolve():
            raise InputError(out, "topology.file", f"the file exists and does not run {inventory.name}: "
                                                   "choose another --out, or move it away")
        keep_scenario = True
    header = ["Written by `cyberops twin import` from:", *[f"  {source}" for source in sources],
              "Re-importing rewrites this file; hosts keep their twin state by name."]
    write_yaml(inventory, inventory_document(graph), header=header)
    if not keep_scenario:
        write_yaml(out, scenario_document(out.stem, inventory.name),
                   header=["Written by `cyberops twin import`; edit freely: a re-import keeps this file."])
    build_network(load_scenario(out))  # what we wrote runs
    changes = None
    if old is not None:
        added, retired, kept = host_changes(old, graph)
        changes = {"against": str(inventory), "added": added, "retired": retired, "kept": len(kept)}
    return {"changes": changes, "wrote": {"inventory": str(inventory), "scenario": str(out),
                                          "scenario_kept": keep_scenario}}


def _names(names: list[str]) -> str:
    more = f" … and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more if names else "none"


def format_summary(s: dict[str, Any]) -> str:
    subnets = ", ".join(f"{name} ({n})" for name, n in s["subnets"].items())
    lines = [f"{len(s['subnets'])} subnets: {subnets}",
             f"{s['hosts']} hosts, {s['links']} links ({s['gateway_links']} between subnets)",
             f"entry ({len(s['entry'])}): {_names(s['entry'])}",
             f"high-value ({len(s['high_value'])}): {_names(s['high_value'])}"]
    if not s["entry"]:
        lines.append("note: no entry host, so attackers other than `random` have no way in")
    lines += [f"note: {note}" for note in s["notes"]]
    if s["changes"]:
        c = s["changes"]
        lines.append(f"against {c['against']}: {len(c['added'])} added ({_names(c['added'])}), "
                     f"{len(c['retired'])} retired ({_names(c['retired'])}), {c['kept']} kept")
    if s["wrote"]:
        w = s["wrote"]
        scenario = f"kept {w['scenario']}" if w["scenario_kept"] else f"wrote {w['scenario']}"
        lines.append(f"wrote {w['inventory']}; {scenario}. Run it: cyberops demo --scenario {w['scenario']}, "
                     f"or CYBEROPS_SCENARIO={w['scenario']} cyberops serve")
    return "\n".join(lines)
