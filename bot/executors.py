"""Where approved actions go besides the twin: a signed webhook (a SOAR) or a local program.

Both are keyed by the action's idempotency key and never raise: ``dispatch`` returns
``(ok, message)`` and graph.execution changes the twin only on ok.  The wire format and
the program's contract are in the README ("Action dispatch") so a receiver can verify them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from http.client import HTTPException
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from graph.execution import Executor, SimulateExecutor
from twin.errors import InputError

if TYPE_CHECKING:
    from bot.settings import Settings

TIMESTAMP_HEADER = "X-CyberOps-Timestamp"
SIGNATURE_HEADER = "X-CyberOps-Signature"
MESSAGE_CHARS = 500  # the audit log keeps this much of a message; we keep the end, where the error is
RESPONSE_BYTES = 4096  # of a receiver's answer we read
MAX_BACKOFF = 30.0  # seconds, the longest wait between two attempts
BREAKER_AFTER = 3  # actions failed in a row on a receiver that is down before actions fail at once ...
BREAKER_COOLDOWN = 30.0  # ... for this many seconds (then one is tried again)
RETRYABLE = frozenset({408, 425, 429})  # 4xx that mean "try again later"; every 5xx is retried too
MIN_SECRET_CHARS = 16
#: variables a command does not inherit: the bot's own settings and secrets
PRIVATE_ENV_PREFIXES = ("SLACK_", "DISCORD_", "CYBEROPS_", "OPENAI_")


def request_body(request: dict[str, Any]) -> bytes:
    """The action as the exact bytes a receiver gets (and the signature covers): compact, sorted JSON."""
    fields = ("incident", "action", "targets", "approver", "idempotency_key", "reason")
    return json.dumps({k: request.get(k) for k in fields}, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256(secret, "v1:{timestamp}:{body}")>``."""
    mac = hmac.new(secret.encode(), b"v1:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def _fit(head: str, tail: str = "") -> str:
    """``head: tail`` in at most MESSAGE_CHARS, cutting the start of the tail (its end says what went wrong)."""
    tail = " ".join(tail.split())
    if not tail:
        return head[:MESSAGE_CHARS]
    room = max(MESSAGE_CHARS - len(head) - 2, 0)
    return f"{head}: {tail[-room:] if room else ''}"[:MESSAGE_CHARS]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A signed action is not re-sent elsewhere: a 3xx is an answer (a permanent failure)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookExecutor:
    """POST each action, signed, to a receiver; retry 5xx/408/425/429/timeouts/connection errors with
    exponential backoff and jitter, ``retries`` times after the first attempt.

    Every attempt sends the same body and ``Idempotency-Key``; the timestamp and signature are made
    afresh per attempt, so a late retry is never stale.  2xx = done, 409 = already done under this
    key (success), any other 4xx or 3xx = permanent failure, not retried.
    """

    name = "webhook"
    parallel = 4  # a step's actions sent at once (graph.execution): a slow receiver costs the slowest, not the sum

    def __init__(self, url: str, secret: str, *, timeout: float, retries: int, backoff: float = 0.5,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, breaker_after: int = BREAKER_AFTER,
                 cooldown: float = BREAKER_COOLDOWN, monotonic: Callable[[], float] = time.monotonic) -> None:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ValueError("the webhook URL must be http:// or https://")
        if not secret:
            raise ValueError("the webhook secret is empty")
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError("timeout must be > 0, retries and backoff >= 0")
        self.url, self.timeout, self.retries, self.backoff = url, float(timeout), int(retries), float(backoff)
        self._secret = secret
        self._clock, self._sleep = clock, sleep
        self._rng = rng or random.Random()
        self._opener = urllib.request.build_opener(_NoRedirects)
        # the circuit breaker: after breaker_after actions in a row failed on a receiver that is down (every
        # retry spent on 5xx, timeouts, refused connections), actions fail at once for cooldown seconds instead
        # of each holding the defence loop through its retries; then one is tried again
        self.breaker_after, self.cooldown = int(breaker_after), float(cooldown)
        self._failures, self._open_until, self._monotonic = 0, 0.0, monotonic
        self._breaker = threading.Lock()

    def __repr__(self) -> str:  # never the secret
        return f"WebhookExecutor(timeout={self.timeout:g}, retries={self.retries})"

    def dispatch(self, request: dict[str, Any]) -> tuple[bool, str]:
        with self._breaker:
            wait = self._open_until - self._monotonic()
            if wait > 0:
                return False, (f"webhook: not sent: the receiver failed {self._failures} action(s) in a row; "
                               f"the next is tried in {wait:.0f} s (circuit open)")
        try:
            ok, message, down = self._dispatch(request)
        except Exception as exc:  # never raise: the loop records the failure and leaves the twin as it is
            return False, self._scrub(_fit("webhook: unexpected error", f"{type(exc).__name__}: {exc}"))
        with self._breaker:
            self._failures = self._failures + 1 if down else 0
            if down and self.breaker_after and self._failures >= self.breaker_after:
                self._open_until = self._monotonic() + self.cooldown
        return ok, message

    def _dispatch(self, request: dict[str, Any]) -> tuple[bool, str, bool]:
        """``(ok, message, down)``: ``down`` when every attempt failed as a receiver that is down does."""
        body, key = request_body(request), str(request["idempotency_key"])
        attempts, last = self.retries + 1, ""
        for attempt in range(1, attempts + 1):
            status, detail, retry_after = self._post(body, key, attempt)
            said = f"HTTP {status}" if status is not None else detail
            if status is not None and 200 <= status < 300:
                return True, self._scrub(_fit(f"webhook: {said} after {attempt} attempt(s)", detail)), False
            if status == 409:
                return True, self._scrub(_fit(f"webhook: HTTP 409, already done under key {key}", detail)), False
            if status is not None and status < 500 and status not in RETRYABLE:
                return False, self._scrub(_fit(f"webhook: {said}, a permanent failure (not retried)", detail)), False
            last = f"{said}: {detail}" if status is not None and detail else said
            if attempt < attempts:
                self._sleep(self._delay(attempt, retry_after))
        return False, self._scrub(_fit(f"webhook: failed after {attempts} attempt(s); last", last)), True

    def _post(self, body: bytes, key: str, attempt: int) -> tuple[int | None, str, float | None]:
        """One attempt: (HTTP status or None, the receiver's words or the error, Retry-After seconds)."""
        timestamp = str(int(self._clock()))
        headers = {"Content-Type": "application/json", "User-Agent": "cyberops-bots", "Idempotency-Key": key,
                   TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(self._secret, timestamp, body),
                   "X-CyberOps-Attempt": str(attempt)}
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                return resp.status, _text(resp.read(RESPONSE_BYTES)), None
        except urllib.error.HTTPError as exc:
            try:
                text = _text(exc.read(RESPONSE_BYTES))
            except (OSError, HTTPException):
                text = ""
            finally:
                exc.close()
            return exc.code, text, _seconds(exc.headers.get("Retry-After") if exc.headers else None)
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return None, f"timed out after {self.timeout:g} s", None
            return None, f"connection failed ({exc.reason})", None
        except TimeoutError:
            return None, f"timed out after {self.timeout:g} s", None
        except (OSError, HTTPException) as exc:
            return None, f"connection failed ({type(exc).__name__}: {exc})", None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (half to all of backoff * 2^(attempt-1)); a Retry-After within
        MAX_BACKOFF is honoured."""
        base = min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF)
        delay = base * (0.5 + 0.5 * self._rng.random())
        return min(max(delay, retry_after or 0.0), MAX_BACKOFF)

    def _scrub(self, message: str) -> str:
        return message.replace(self._secret, "[secret]")


def _text(raw: bytes) -> str:
    return " ".join(raw.decode("utf-8", "replace").split())[:200]


def _seconds(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:  # an HTTP date: ignored, our own backoff applies
        return None


class CommandExecutor:
    """Run a program (no shell) per action: ``argv... ACTION IDEMPOTENCY_KEY HOST...``, the request's JSON
    (the webhook body) on stdin.  Exit 0 = success; the message is the exit status and the output's tail.
    Past ``timeout`` seconds the whole process group is killed (SIGKILL)."""

    name = "command"

    def __init__(self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> None:
        if not argv or not argv[0]:
            raise ValueError("the command needs a program")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        self.argv, self.timeout, self._env = list(argv), float(timeout), env

    def dispatch(self, request: dict[str, Any]) -> tuple[bool, str]:
        try:
            targets = [str(t) for t in request["targets"]]
            odd = [t for t in targets if t.startswith("-") or "\0" in t]
            if odd:  # would read as an option to the program
                return False, _fit("command: not run, host name(s) that look like options", ", ".join(odd))
            args = self.argv + [str(request["action"]), str(request["idempotency_key"]), *targets]
            return self._run(args, request_body(request))
        except Exception as exc:  # never raise
            return False, _fit("command: unexpected error", f"{type(exc).__name__}: {exc}")

    def _run(self, args: list[str], stdin: bytes) -> tuple[bool, str]:
        program = args[0]
        try:
            proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=self._child_env())
        except FileNotFoundError:
            return False, f"command: program not found: {program}"[:MESSAGE_CHARS]
        except PermissionError:
            return False, f"command: not allowed to run {program} (permission denied)"[:MESSAGE_CHARS]
        except OSError as exc:
            return False, _fit(f"command: could not start {program}", exc.strerror or str(exc))
        output = _Tail(proc)
        threading.Thread(target=_feed, args=(proc, stdin), daemon=True).start()
        try:
            code, timed_out = proc.wait(timeout=self.timeout), False
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            code, timed_out = proc.wait(), True
        output.join(1.0)
        if output.is_alive():  # a child left behind still holds the output open
            _kill_group(proc.pid)
            output.join(1.0)
        tail = output.text()
        if timed_out:
            return False, _fit(f"command timed out after {self.timeout:g} s (process group killed)", tail)
        if code < 0:
            return False, _fit(f"command killed by signal {-code}", tail)
        return code == 0, _fit(f"command exited {code}", tail)

    def _child_env(self) -> dict[str, str]:
        env = os.environ if self._env is None else self._env
        return {k: v for k, v in env.items() if not k.upper().startswith(PRIVATE_ENV_PREFIXES)}


class _Tail(threading.Thread):
    """Reads a process's output, keeping only its last few KiB (a chatty program can't fill memory)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        super().__init__(daemon=True)
        self._stream, self._buf = proc.stdout, bytearray()
        self.start()

    def run(self) -> None:
        try:
            while chunk := self._stream.read1(4096):
                self._buf += chunk
                if len(self._buf) > 2 * RESPONSE_BYTES:
                    del self._buf[:-RESPONSE_BYTES]
        except (OSError, ValueError):
            pass

    def text(self) -> str:
        return bytes(self._buf[-RESPONSE_BYTES:]).decode("utf-8", "replace")


def _feed(proc: subprocess.Popen, data: bytes) -> None:
    try:
        proc.stdin.write(data)
        proc.stdin.close()
    except (OSError, ValueError):  # the program exited without reading its input: fine
        pass


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def executor_from_settings(settings: Settings) -> Executor:
    """The executor ``CYBEROPS_EXECUTOR`` names; InputError naming the variable that is missing or wrong."""
    mode = settings.cyberops_executor
    if mode == "simulate":
        return SimulateExecutor()
    timeout, retries = settings.cyberops_executor_timeout, settings.cyberops_executor_retries
    if mode == "webhook":
        url = (settings.cyberops_executor_url or "").strip()
        if not url:
            raise InputError("environment", "CYBEROPS_EXECUTOR_URL",
                             "is not set; CYBEROPS_EXECUTOR=webhook needs the URL actions are POSTed to")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError("environment", "CYBEROPS_EXECUTOR_URL", "must be an http:// or https:// URL")
        secret = settings.cyberops_executor_secret.get_secret_value() if settings.cyberops_executor_secret else ""
        if not secret:
            raise InputError("environment", "CYBEROPS_EXECUTOR_SECRET",
                             "is not set; CYBEROPS_EXECUTOR=webhook signs every action with it")
        if len(secret) < MIN_SECRET_CHARS:
            raise InputError("environment", "CYBEROPS_EXECUTOR_SECRET",
                             f"is too short; use at least {MIN_SECRET_CHARS} random characters")
        return WebhookExecutor(url, secret, timeout=timeout, retries=retries)
    if mode == "command":
        raw = (settings.cyberops_executor_command or "").strip()
        if not raw:
            raise InputError("environment", "CYBEROPS_EXECUTOR_COMMAND",
                             "is not set; CYBEROPS_EXECUTOR=command needs the program to run (and fixed arguments)")
        try:
            argv = shlex.split(raw)
        except ValueError as exc:
            raise InputError("environment", "CYBEROPS_EXECUTOR_COMMAND", f"cannot be parsed ({exc})") from None
        program = shutil.which(argv[0])
        if program is None:
            raise InputError("environment", "CYBEROPS_EXECUTOR_COMMAND",
                             f"{argv[0]!r} is not an executable program (a path, or a name on PATH)")
        return CommandExecutor([program, *argv[1:]], timeout=timeout)
    raise InputError("environment", "CYBEROPS_EXECUTOR", f"unknown executor {mode!r}; use simulate, webhook or command")
