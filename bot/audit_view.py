"""``cyberops audit``: print the audit log, or check its hash chain."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from twin.errors import InputError

EXIT_CHAIN_BROKEN = 1


def run_audit(db_path: str, *, incident: str | None = None, as_json: bool = False, verify: bool = False) -> int:
    from memory.audit import AuditLog
    from memory.store import open_store

    if verify and incident:
        raise InputError("command line", "--incident", "--verify checks the whole chain, not one incident's entries")
    if db_path != ":memory:" and not Path(db_path).is_file():  # reading must not create a database
        raise InputError(db_path, "", "no such database file (set --db or CYBEROPS_DB)")
    try:
        store = open_store(db_path)
    except sqlite3.DatabaseError as exc:
        raise InputError(db_path, "", f"not a CyberOps memory database ({exc})") from None
    try:
        log = AuditLog(store)
        if verify:
            broken = log.verify()
            if broken is None:
                print(f"audit chain OK: {len(log)} entries")
                return 0
            print(f"audit chain BROKEN at row {broken.id}: {broken.reason} ({broken.detail})")
            return EXIT_CHAIN_BROKEN
        entries = log.entries(incident=incident)
        if as_json:
            for entry in entries:
                print(json.dumps(entry, ensure_ascii=False))
        else:
            _print_table(entries)
        return 0
    finally:
        store.close()


def _print_table(entries: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Audit log ({len(entries)} {'entry' if len(entries) == 1 else 'entries'})")
    for column in ("id", "at", "event", "who", "incident", "action", "targets", "why", "result"):
        table.add_column(column, overflow="fold")
    for e in entries:
        result = "" if e["result"] is None else json.dumps(e["result"], ensure_ascii=False)
        table.add_row(str(e["id"]), e["at"], e["event"], e["who"], e["incident"], e["action_id"],
                      ", ".join(e["targets"]), e["why"], result)
    Console().print(table)
