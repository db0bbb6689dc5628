"""Keep the bot's secrets out of its logs: every configured secret value becomes ``[redacted]``.

The bot never logs a secret on purpose (settings are ``SecretStr``; executors and the LLM planner
say what failed, not with what), but libraries may: a debug line with a request's headers, an
exception quoting a URL or a body.  :func:`install_redaction` is the last line of defence, run
by ``cyberops serve`` and ``cyberops demo`` before anything else.  A filter on the root logger
alone would miss records propagated up from other loggers and those of loggers with handlers of
their own (uvicorn's, Python's last-resort stderr handler), so the same filter also runs on the
root's handlers and, through the log-record factory, on every record as it is made: message,
arguments, exception traceback and stack alike.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 6  # shorter values would garble every line they happen to occur in


class SecretRedactor(logging.Filter):
    """Replaces each secret (longest first) in a record's message, traceback and stack with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # arguments that don't fit the format: logging reports that itself; redact the parts
            message = None
        if message is not None:
            clean = self.redact(message)
            if clean != message:  # the arguments are folded into the message, or they would leak again
                record.msg, record.args = clean, None
        elif isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        if record.exc_info and not record.exc_text:  # format the traceback now, so handlers print the clean one
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_installed: dict[str, Any] = {}  # the active redactor and the record factory it wraps


def install_redaction(secrets: Iterable[str]) -> SecretRedactor:
    """Redact ``secrets`` from every log record of this process from now on (again: the new set replaces the old)."""
    uninstall_redaction()
    redactor = SecretRedactor(secrets)
    base = logging.getLogRecordFactory()

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        redactor.filter(record)
        return record

    logging.setLogRecordFactory(make_record)
    root = logging.getLogger()
    root.addFilter(redactor)
    for handler in root.handlers:
        handler.addFilter(redactor)
    _installed.update(redactor=redactor, base=base, factory=make_record)
    return redactor


def uninstall_redaction() -> None:
    """Undo :func:`install_redaction` (tests)."""
    redactor = _installed.pop("redactor", None)
    if redactor is None:
        return
    if logging.getLogRecordFactory() is _installed.get("factory"):
        logging.setLogRecordFactory(_installed["base"])
    _installed.clear()
    root = logging.getLogger()
    root.removeFilter(redactor)
    for handler in root.handlers:
        handler.removeFilter(redactor)


def installed_redactor() -> SecretRedactor | None:
    return _installed.get("redactor")


def bot_secrets(settings: Any = None, environ: dict[str, str] | None = None) -> list[str]:
    """Every secret the bot may hold: the settings' (``Settings.secrets()``: chat tokens, signing secret,
    alert token, executor secret) and the LLM's API key.  Without ``settings`` they are read from the
    environment and ``.env``, skipping what doesn't validate (``demo`` must run without chat settings)."""
    env = os.environ if environ is None else environ
    if settings is None:
        from pydantic import ValidationError

        from bot.settings import Settings

        try:
            settings = Settings()
        except ValidationError:
            settings = None
    found = list(settings.secrets()) if settings is not None else []
    key = env.get("OPENAI_API_KEY", "").strip()
    return found + ([key] if key else [])
