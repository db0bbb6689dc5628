"""The SQLite checkpointer the defence loop is compiled with."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.checkpoint.sqlite import SqliteSaver


class AtomicSqliteSaver(SqliteSaver):
    """LangGraph's SqliteSaver commits in a ``finally``, even after a failed statement (say half of a task's
    writes, when the disk filled up): here a failed checkpoint write rolls back whole, so a resume never
    takes half a step for a whole one, and the connection is clean for the next attempt."""

    @contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
        with self.lock:
            self.setup()
            cur = self.conn.cursor()
            try:
                yield cur
                if transaction:
                    self.conn.commit()
            except BaseException:
                if transaction:
                    self.conn.rollback()
                raise
            finally:
                cur.close()
