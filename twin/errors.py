"""One error type for bad input files, so the CLI can print one clear line for any of them."""

from __future__ import annotations


class InputError(ValueError):
    """A file the user gave us is wrong: names the file, the field and the problem."""

    def __init__(self, source: object, field: str, problem: str) -> None:
        self.source = str(source)
        self.field = field
        self.problem = problem
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.source}: {self.field}" if self.field else self.source
        return f"{where}: {self.problem}"
