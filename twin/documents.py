"""Reading JSON and YAML input files strictly, with errors that name the line and the field.

Scenario and topology files share these rules: a repeated key is an error (both
parsers would otherwise keep the last value silently), and YAML reads only
true/false as booleans, as YAML 1.2 does (PyYAML's 1.1 default turns ``yes``, ``no``
and ``on`` into booleans, so a host called ``no`` would become False).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NoReturn

import yaml

from twin.errors import InputError


def read_document(path: Path) -> Any:
    """Read and parse ``path`` (JSON when it ends in .json, else YAML); unreadable files are InputErrors."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(path, "", "not UTF-8 text") from None
    except OSError as exc:  # missing file, a folder, no permission, ...
        raise InputError(path, "", f"cannot read: {exc.strerror or exc}") from None
    return parse_document(text, path)


def describe_kind(value: Any) -> str:
    """How a wrong value reads in an error message (JSON words, not Python's)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else "a long string"
    return {dict: "a mapping", list: "a list"}.get(type(value), repr(value))


def parse_document(text: str, path: Path) -> Any:
    """JSON for ``.json`` files, YAML otherwise; syntax errors name the line."""
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text, object_pairs_hook=_unique_keys)
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader
    except json.JSONDecodeError as exc:
        raise InputError(path, f"line {exc.lineno}", f"invalid JSON: {exc.msg}") from None
    except _DuplicateKey as exc:
        raise InputError(path, "", f"invalid JSON: duplicate key {exc.key!r}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(path, where, f"invalid YAML: {problem}") from None


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON objects may not repeat a key: the later value would silently win."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that rejects a repeated key and reads only true/false as booleans."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:  # unhashable: the base class reports it
                continue
            if repeated:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def join(field: str, key: str | int) -> str:
    """``join("Reservations[0]", "Instances")`` → ``Reservations[0].Instances``; ints index."""
    if isinstance(key, int):
        return f"{field}[{key}]"
    return f"{field}.{key}" if field else key


class Fields:
    """Typed access to one parsed document; every failure names ``source`` and the field path."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def fail(self, field: str, problem: str) -> NoReturn:
        raise InputError(self.source, field, problem)

    def mapping(self, value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(field, f"expected a mapping, got {describe_kind(value)}")
        return value

    def items(self, value: Any, field: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(field, f"expected a list, got {describe_kind(value)}")
        return value

    def string(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(field, f"expected a non-empty string, got {describe_kind(value)}")
        return value

    def boolean(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            self.fail(field, f"expected true or false, got {describe_kind(value)}")
        return value

    def required(self, raw: dict[str, Any], field: str, key: str) -> Any:
        if key not in raw:
            self.fail(join(field, key), "missing key")
        return raw[key]

    def get(self, raw: dict[str, Any], field: str, key: str, kind: str, *, required: bool = False) -> Any:
        """``raw[key]`` checked as ``kind`` (mapping, list, string, boolean); None when absent and optional."""
        if key not in raw or (raw[key] is None and not required):
            if required:
                self.fail(join(field, key), "missing key")
            return None
        return getattr(self, {"list": "items"}.get(kind, kind))(raw[key], join(field, key))

    def entries(self, raw: dict[str, Any], field: str, key: str) -> list[tuple[str, dict[str, Any]]]:
        """``raw[key]`` as a list of mappings (empty when absent), each with its field path."""
        values = self.get(raw, field, key, "list") or []
        at = join(field, key)
        return [(join(at, i), self.mapping(v, join(at, i))) for i, v in enumerate(values)]

    def string_map(self, raw: dict[str, Any], field: str, key: str) -> dict[str, str]:
        """A mapping of strings to strings (Kubernetes labels, annotations, selectors)."""
        value = self.get(raw, field, key, "mapping") or {}
        for k, v in value.items():
            if not isinstance(v, str):
                self.fail(join(join(field, key), k), f"expected a string, got {describe_kind(v)}")
        return value
