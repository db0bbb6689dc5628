"""Reading someone else's export field by field, with errors that name the file and the field.

Cloud exports carry many keys we do not use, so unlike our own inventory format they
are read leniently about extra keys and strictly about the ones we need: a missing or
mistyped key is one :class:`~twin.errors.InputError` line such as
``describe-instances.json: Reservations[0].Instances[2].InstanceId: missing key``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

from twin.documents import parse_document
from twin.errors import InputError


def read_document(path: Path) -> Any:
    """Parse ``path`` (JSON when it ends in .json, else YAML); unreadable files are InputErrors."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(path, "", "not UTF-8 text") from None
    except OSError as exc:  # missing file, a folder, no permission, ...
        raise InputError(path, "", f"cannot read: {exc.strerror or exc}") from None
    return parse_document(text, path)


def join(field: str, key: str | int) -> str:
    """``join("Reservations[0]", "Instances")`` → ``Reservations[0].Instances``; ints index."""
    if isinstance(key, int):
        return f"{field}[{key}]"
    return f"{field}.{key}" if field else key


def _kind(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return {dict: "a mapping", list: "a list", str: "a string"}.get(type(value), repr(value))


class Fields:
    """Typed access to one parsed document; every failure names ``source`` and the field path."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def fail(self, field: str, problem: str) -> NoReturn:
        raise InputError(self.source, field, problem)

    def mapping(self, value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(field, f"expected a mapping, got {_kind(value)}")
        return value

    def items(self, value: Any, field: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(field, f"expected a list, got {_kind(value)}")
        return value

    def string(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(field, f"expected a non-empty string, got {_kind(value)}")
        return value

    def boolean(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            self.fail(field, f"expected true or false, got {_kind(value)}")
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
                self.fail(join(join(field, key), k), f"expected a string, got {_kind(v)}")
        return value
