"""Scenario files (JSON or YAML): the public contract in ARCHITECTURE.md.

A scenario names a network to build, an attacker, the defender's action budget and
the episodes to play; ``shifts`` are later phases, each overriding part of the base
(A1 structure, A2 scale, A3 attack policy, A4 intensity).  Every problem is reported
as one :class:`~twin.errors.InputError` naming the file, the field and the problem.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from twin.documents import parse_document
from twin.errors import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TopologySpec(_Strict):
    subnets: int = Field(5, ge=1, le=1000)
    nodes_per_subnet: int = Field(30, ge=1, le=100_000)
    generator: Literal["tree", "watts_strogatz", "fat_tree", "file"] = "tree"
    file: str | None = None
    entry_nodes: int = Field(2, ge=0)
    high_value_nodes: int = Field(2, ge=0)
    gateway_links: int = Field(0, ge=0)


class AttackSpec(_Strict):
    mode: Literal["random", "recon", "penetrate", "impact"] = "recon"
    intensity: int = Field(2, ge=0, le=1000)
    p_detect: float = Field(0.5, ge=0.0, le=1.0)


class DefenderSpec(_Strict):
    actions_per_step: int = Field(4, ge=0, le=1000)


class ShiftSpec(_Strict):
    """A later phase; its sections are merged over the base scenario's."""

    name: str = Field(min_length=1)
    episodes: int | None = Field(None, ge=1)
    horizon: int | None = Field(None, ge=1)
    topology: dict[str, Any] = Field(default_factory=dict)
    attack: dict[str, Any] = Field(default_factory=dict)
    defender: dict[str, Any] = Field(default_factory=dict)


class Scenario(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    seed: int = Field(0, ge=0)  # numpy seeds are non-negative
    episodes: int = Field(50, ge=1)
    horizon: int = Field(30, ge=1, le=100_000)
    topology: TopologySpec = TopologySpec()
    attack: AttackSpec = AttackSpec()
    defender: DefenderSpec = DefenderSpec()
    shifts: list[ShiftSpec] = Field(default_factory=list)
    #: folder that relative paths (topology.file) resolve against; not part of the file
    base_dir: str = Field(".", exclude=True)
    #: where the scenario came from, for error messages; not part of the file
    source: str = Field("<scenario>", exclude=True)

    def topology_file(self) -> Path | None:
        if self.topology.file is None:
            return None
        path = Path(self.topology.file)
        return path if path.is_absolute() else Path(self.base_dir) / path

    def phases(self) -> list[Phase]:
        """The base phase, then one phase per shift (each a complete scenario)."""
        out = [Phase(name="base", scenario=self.model_copy(update={"shifts": []}))]
        base = self.model_dump(exclude={"shifts"})
        for i, shift in enumerate(self.shifts):
            merged = copy.deepcopy(base)
            for key in ("topology", "attack", "defender"):
                merged[key].update(getattr(shift, key))
            if shift.topology.get("generator", "file") != "file" and "file" not in shift.topology:
                merged["topology"]["file"] = None  # a shift to a generated structure drops the base's file
            for key in ("episodes", "horizon"):
                if getattr(shift, key) is not None:
                    merged[key] = getattr(shift, key)
            merged["name"] = f"{self.name}/{shift.name}"
            scenario = _validate(merged, self.source, self.base_dir, prefix=f"shifts[{i}].")
            out.append(Phase(name=shift.name, scenario=scenario))
        return out


@dataclass(frozen=True)
class Phase:
    name: str
    scenario: Scenario


SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")


def shipped_scenarios() -> dict[str, Path]:
    """Scenario files shipped in the ``scenarios`` package, by name."""
    folder = resources.files("scenarios")
    return {
        Path(entry.name).stem: Path(str(entry))
        for entry in folder.iterdir()
        if entry.name.endswith(SCENARIO_SUFFIXES) and not entry.name.endswith("-network.json")
    }


def resolve_scenario(name_or_path: str) -> Path:
    """A shipped scenario's name (``paper-base``) or a path to a scenario file."""
    path = Path(name_or_path)
    if path.suffix in SCENARIO_SUFFIXES or path.is_file():
        return path
    shipped = shipped_scenarios()
    if name_or_path in shipped:  # even where a folder of that name is in the way
        return shipped[name_or_path]
    if path.exists():
        return path  # a folder: load_scenario says so
    known = ", ".join(sorted(shipped))
    raise InputError(name_or_path, "", f"no such file, and not a shipped scenario ({known})")


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read, parse and validate a scenario file (every shift phase included)."""
    path = resolve_scenario(str(name_or_path))
    if path.is_dir():
        raise InputError(path, "", "is a folder, not a scenario file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, "", f"cannot read: {exc}") from None
    data = parse_document(text, path)
    # absolute, so topology.file still resolves if the working folder changes later
    scenario = _validate(data, str(path), str(path.absolute().parent))
    scenario.phases()  # validates every shift's merged scenario too
    return scenario


def scenario_from_dict(data: dict[str, Any], *, source: str = "<scenario>", base_dir: str = ".") -> Scenario:
    scenario = _validate(data, source, base_dir)
    scenario.phases()
    return scenario


def _kind(value: Any) -> str:
    """How a wrong value reads in an error message."""
    if value is None:
        return "null"
    return {list: "a list", dict: "a mapping", str: "a string"}.get(type(value), repr(value))


def _field(loc: tuple[Any, ...]) -> str:
    """A pydantic location as a field path: ``shifts[0].topology.file``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


_NOT_IN_FILE = ("base_dir", "source")


def _validate(data: Any, source: str, base_dir: str, prefix: str = "") -> Scenario:
    if not isinstance(data, dict):
        got = "an empty document" if data is None else _kind(data)
        raise InputError(source, prefix.rstrip("."), f"expected a mapping of scenario fields, got {got}")
    for key in _NOT_IN_FILE:  # set by the loader; a file must not smuggle them in
        if key in data:
            raise InputError(source, prefix + key, "unknown key")
    try:
        scenario = Scenario.model_validate({**data, "base_dir": base_dir, "source": source})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = prefix + _field(err["loc"]) if err["loc"] else prefix.rstrip(".")
        problem = _problem(err)
        more = len(exc.errors()) - 1
        if more:
            problem += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise InputError(source, field, problem) from None
    _check_topology(scenario, prefix)
    return scenario


def _problem(err: dict[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "missing (required)"
    if err["type"] in ("model_type", "dict_type"):
        return f"expected a mapping, got {_kind(err['input'])}"
    if err["type"] == "list_type":
        return f"expected a list, got {_kind(err['input'])}"
    if err["type"] == "literal_error":
        allowed = err.get("ctx", {}).get("expected", "")
        return f"{err['input']!r} is not one of {allowed}"
    shown = err.get("input")
    got = f" (got {shown!r})" if not isinstance(shown, dict | list) else ""
    return f"{err['msg'].rstrip('.')}{got}"


def _check_topology(scenario: Scenario, prefix: str) -> None:
    """What one field alone cannot say: the file is there, the special hosts fit a subnet."""
    topo = scenario.topology
    if topo.generator == "file":
        if not topo.file:
            raise InputError(scenario.source, f"{prefix}topology.file", "required when generator is 'file'")
        path = scenario.topology_file()
        if path is None or not path.is_file():  # now, not when a later phase gets to build it
            raise InputError(scenario.source, f"{prefix}topology.file", f"no such file: {path}")
        return
    if topo.file:
        raise InputError(
            scenario.source, f"{prefix}topology.file", f"only used with generator 'file', not {topo.generator!r}"
        )
    special = topo.entry_nodes + topo.high_value_nodes
    if special > topo.nodes_per_subnet:
        raise InputError(
            scenario.source,
            f"{prefix}topology.high_value_nodes",
            f"{topo.entry_nodes} entry + {topo.high_value_nodes} high-value hosts do not fit "
            f"in a subnet of {topo.nodes_per_subnet}",
        )
