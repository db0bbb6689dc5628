"""Approved actions reach the operator's infrastructure: a signed webhook a receiver can verify (retried,
never performed twice for one key) or a program run without a shell under a timeout; settings pick one."""

from __future__ import annotations

import hashlib
import hmac
import json
import shlex
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.chat_cli import build_conversation, load_settings
from bot.executors import CommandExecutor, WebhookExecutor, executor_from_settings
from bot.settings import Settings
from graph.execution import SimulateExecutor
from graph.runtime import Defence
from memory.store import open_store
from twin.errors import InputError
from twin.scenario import scenario_from_dict

SECRET = "a-shared-secret-of-some-length"
REQUEST = {"incident": "INC-0001", "action": "isolate", "targets": ["web-1", "web-2"], "approver": "alice",
           "idempotency_key": "INC-0001/c0/a0", "reason": "seen compromised next to the database"}
SCENARIO = {
    "name": "exec-test", "seed": 7, "horizon": 12,
    "topology": {"subnets": 2, "nodes_per_subnet": 12, "generator": "tree", "entry_nodes": 2, "high_value_nodes": 1},
    "attack": {"mode": "recon", "intensity": 2, "p_detect": 1.0},
    "defender": {"actions_per_step": 3},
}


# ---------------------------------------------------------------- a SOAR stand-in, verifying as the README says
class Receiver:
    """Verifies each request (HMAC over "v1:{timestamp}:{body}", constant-time, timestamps within 5 min),
    dedups by Idempotency-Key and performs each action once; ``fail`` 503s first, ``always`` answers that."""

    def __init__(self, *, secret: str = SECRET, fail: int = 0, always: int | None = None, stall_before: int = 0,
                 stall_after: int = 0) -> None:
        self.secret, self.fail, self.always = secret, fail, always
        self.stall_before, self.stall_after = stall_before, stall_after  # attempts that get no answer
        self.attempts: list[dict] = []  # every request that arrived: key, body, what was wrong with it
        self.performed: dict[str, dict] = {}  # key -> the action, performed once
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                status, text = receiver.handle(self.headers, self.rfile.read(int(self.headers["Content-Length"])))
                if status is None:
                    return  # hung up on: the client timed out long ago
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/actions"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def verify(self, headers, body: bytes) -> str | None:
        timestamp, signature = headers.get("X-CyberOps-Timestamp", ""), headers.get("X-CyberOps-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return "stale or missing timestamp"
        expected = "v1=" + hmac.new(self.secret.encode(), f"v1:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "bad signature"
        return None

    def handle(self, headers, body: bytes) -> tuple[int | None, str]:
        problem = self.verify(headers, body)
        key = headers.get("Idempotency-Key")
        stall = False
        with self.lock:
            self.attempts.append({"key": key, "body": body, "problem": problem})
            if problem:
                return 401, problem
            action = json.loads(body)
            if action["idempotency_key"] != key:
                return 400, "key mismatch"
            if self.stall_before:
                self.stall_before -= 1
                stall = True
            elif self.always is not None:
                return self.always, "firewall API unavailable"
            elif self.fail:
                self.fail -= 1
                return 503, "busy, try later"
            elif key in self.performed:
                return 409, "already done"
            else:
                self.performed[key] = action
                if self.stall_after:  # done, but the answer never arrives
                    self.stall_after -= 1
                    stall = True
        if stall:
            self.release.wait(30)
            return None, ""
        return 200, "done"


def webhook(receiver: Receiver, **kwargs) -> WebhookExecutor:
    return WebhookExecutor(receiver.url, kwargs.pop("secret", SECRET),
                           **({"timeout": 2.0, "retries": 3, "backoff": 0.01} | kwargs))


# ---------------------------------------------------------------- webhook
def test_a_receiver_that_fails_twice_gets_the_same_signed_body_three_times_and_performs_it_once():
    with Receiver(fail=2) as receiver:
        ok, message = webhook(receiver).dispatch(REQUEST)
    assert ok and "HTTP 200 after 3 attempt(s)" in message
    assert len(receiver.attempts) == 3 and all(a["problem"] is None for a in receiver.attempts)
    assert {a["body"] for a in receiver.attempts} == {receiver.attempts[0]["body"]}
    assert {a["key"] for a in receiver.attempts} == {REQUEST["idempotency_key"]}
    assert receiver.performed == {REQUEST["idempotency_key"]: REQUEST}
    assert SECRET not in message


def test_retries_back_off_exponentially_with_jitter():
    delays: list[float] = []
    with Receiver(always=503) as receiver:
        ok, message = webhook(receiver, retries=3, backoff=1.0, sleep=delays.append).dispatch(REQUEST)
    assert not ok and "failed after 4 attempt(s)" in message and "HTTP 503" in message
    assert len(receiver.attempts) == 4 and len(delays) == 3
    for n, delay in enumerate(delays):
        assert 2 ** n * 0.5 <= delay <= 2 ** n


def test_a_forged_signature_is_refused_once_and_not_retried():
    with Receiver() as receiver:
        ok, message = webhook(receiver, secret="not-the-shared-secret-at-all").dispatch(REQUEST)
    assert not ok and "HTTP 401" in message and "permanent" in message
    assert len(receiver.attempts) == 1 and receiver.attempts[0]["problem"] == "bad signature"
    assert receiver.performed == {}
    assert "not-the-shared-secret-at-all" not in message


def test_a_stale_timestamp_is_refused():
    with Receiver() as receiver:
        ok, message = webhook(receiver, clock=lambda: time.time() - 600).dispatch(REQUEST)
    assert not ok and "HTTP 401" in message and receiver.attempts[0]["problem"] == "stale or missing timestamp"


def test_a_hanging_receiver_times_out_is_retried_then_fails():
    with Receiver(stall_before=99) as receiver:
        started = time.monotonic()
        ok, message = webhook(receiver, timeout=0.3, retries=2).dispatch(REQUEST)
        took = time.monotonic() - started
    assert not ok and "failed after 3 attempt(s)" in message and "timed out after 0.3 s" in message
    assert len(receiver.attempts) == 3 and took < 3


def test_an_answer_lost_after_the_action_was_performed_is_retried_and_409_counts_as_done():
    with Receiver(stall_after=1) as receiver:
        ok, message = webhook(receiver, timeout=0.3).dispatch(REQUEST)
    assert ok and "409" in message
    assert len(receiver.attempts) == 2 and list(receiver.performed) == [REQUEST["idempotency_key"]]


def test_409_already_done_is_success():
    with Receiver() as receiver:
        receiver.performed[REQUEST["idempotency_key"]] = REQUEST
        ok, message = webhook(receiver).dispatch(REQUEST)
    assert ok and "HTTP 409" in message and len(receiver.attempts) == 1


def test_other_4xx_are_permanent_and_an_unreachable_receiver_is_a_failure_not_an_exception():
    with Receiver(always=422) as receiver:
        ok, message = webhook(receiver).dispatch(REQUEST)
    assert not ok and "HTTP 422" in message and len(receiver.attempts) == 1
    with Receiver() as receiver:
        url = receiver.url
    ok, message = WebhookExecutor(url, SECRET, timeout=0.5, retries=1, backoff=0.01).dispatch(REQUEST)
    assert not ok and "connection failed" in message and "failed after 2 attempt(s)" in message
    ok, message = WebhookExecutor(url, SECRET, timeout=0.5, retries=0).dispatch({"no": "key"})
    assert not ok and "unexpected error" in message


def test_a_receiver_that_is_down_opens_the_circuit_so_actions_fail_at_once_until_the_cooldown_is_over():
    now = [1_000_000.0]
    with Receiver(always=503) as receiver:
        executor = webhook(receiver, retries=1, breaker_after=2, cooldown=30, monotonic=lambda: now[0])
        assert [executor.dispatch(REQUEST)[0] for _ in range(2)] == [False, False]
        assert len(receiver.attempts) == 4  # two actions, each with its retry
        ok, message = executor.dispatch(REQUEST)
        assert not ok and "circuit open" in message and len(receiver.attempts) == 4  # not sent at all
        now[0] += 31
        receiver.always = None  # the receiver is back
        ok, message = executor.dispatch(REQUEST)
        assert ok and len(receiver.attempts) == 5 and "HTTP 200" in message
        assert executor.dispatch(dict(REQUEST, idempotency_key="INC-0001/c0/a9"))[0]  # closed again


def test_permanent_refusals_do_not_open_the_circuit():
    with Receiver(always=422) as receiver:
        executor = webhook(receiver, breaker_after=1)
        assert not executor.dispatch(REQUEST)[0] and not executor.dispatch(REQUEST)[0]
        assert len(receiver.attempts) == 2  # each was sent: a receiver that answers is not down


def test_the_secret_is_never_in_a_message_or_repr_even_when_the_receiver_echoes_it():
    with Receiver(always=500) as receiver:
        executor = webhook(receiver, retries=0)
        original = receiver.handle
        receiver.handle = lambda headers, body: (original(headers, body)[0], f"you sent {SECRET}")
        ok, message = executor.dispatch(REQUEST)
    assert not ok and "HTTP 500" in message and SECRET not in message and SECRET not in repr(executor)


# ---------------------------------------------------------------- through the defence loop
def approve_first_confirmation(tmp_path, weights, executor):
    defence = Defence(scenario=scenario_from_dict(SCENARIO), store=open_store(tmp_path / "x.db"), agents=weights,
                      restore=False, tick_on_act=False, executor=executor)
    status = defence.open_incident(max_cycles=1)
    pending = status.pending
    assert pending is not None and pending["actions"]
    before = (defence.sim.isolated.copy(), defence.sim.vulnerability.copy(), defence.sim.compromised.copy())
    result = defence.decide(status.incident, pending["interrupt_id"], "approve", by="alice")
    assert result.status == "applied"
    executed = [e for e in defence.audit.entries(incident=status.incident) if e["event"] == "executed"]
    defence.close_connections()
    return defence, pending["actions"], executed, before


def test_approved_actions_reach_the_receiver_once_each_with_the_approver(tmp_path, weights):
    with Receiver(fail=1) as receiver:
        _, actions, executed, _ = approve_first_confirmation(tmp_path, weights, webhook(receiver))
    keys = [a["key"] for a in actions]
    assert sorted(receiver.performed) == sorted(keys)
    for a in actions:
        sent = receiver.performed[a["key"]]
        assert sent["approver"] == "alice" and sent["action"] == a["kind"] and sent["targets"] == a["targets"]
    assert sorted(e["action_id"] for e in executed) == sorted(keys)
    assert all(e["result"]["ok"] and e["result"]["executor"] == "webhook" for e in executed)


def test_when_the_receiver_always_fails_the_twin_is_unchanged_and_the_audit_says_why(tmp_path, weights):
    with Receiver(always=503) as receiver:
        defence, actions, executed, before = approve_first_confirmation(
            tmp_path, weights, webhook(receiver, retries=1))
    assert len(executed) == len(actions) and len(receiver.attempts) == 2 * len(actions)
    assert receiver.performed == {}
    for e in executed:
        assert e["result"]["ok"] is False and "HTTP 503" in e["result"]["message"] and e["result"]["changed"] == []
    after = (defence.sim.isolated, defence.sim.vulnerability, defence.sim.compromised)
    assert all((a == b).all() for a, b in zip(after, before))


# ---------------------------------------------------------------- command
SCRIPT = """\
import json, os, subprocess, sys, time
mode, log = sys.argv[1], sys.argv[2]
action, key, hosts = sys.argv[3], sys.argv[4], sys.argv[5:]
request = json.load(sys.stdin)
with open(log, "a") as f:
    f.write(json.dumps({"argv": [action, key, *hosts], "stdin": request,
                        "env": sorted(k for k in os.environ if k.startswith("CYBEROPS_"))}) + "\\n")
if mode == "ok":
    print(f"{action} done on {' '.join(hosts)}")
elif mode == "fail":
    print("x" * 20000)
    sys.stdout.flush()
    sys.stderr.write("firewall refused the rule\\n")
    sys.exit(3)
elif mode == "hang":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    open(log + ".child", "w").write(str(child.pid))
    time.sleep(30)
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "act.py"
    path.write_text(SCRIPT)
    log = tmp_path / "calls.jsonl"

    def argv(mode: str) -> list[str]:
        return [sys.executable, str(path), mode, str(log)]

    argv.log = log
    return argv


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_a_command_gets_action_key_and_hosts_as_arguments_and_the_request_on_stdin(script, monkeypatch):
    monkeypatch.setenv("CYBEROPS_EXECUTOR_SECRET", SECRET)
    ok, message = CommandExecutor(script("ok"), timeout=10).dispatch(REQUEST)
    assert ok and message == "command exited 0: isolate done on web-1 web-2"
    [call] = calls(script.log)
    assert call["argv"] == ["isolate", REQUEST["idempotency_key"], "web-1", "web-2"]
    assert call["stdin"] == REQUEST
    assert call["env"] == []  # the bot's own settings and secrets are not handed down


def test_a_failing_command_is_a_failure_with_the_tail_of_its_output(script):
    ok, message = CommandExecutor(script("fail"), timeout=10).dispatch(REQUEST)
    assert not ok and message.startswith("command exited 3: xxx") and message.endswith("firewall refused the rule")
    assert len(message) <= 500


def test_a_hanging_command_is_killed_with_its_process_group_after_the_timeout(script, tmp_path):
    started = time.monotonic()
    ok, message = CommandExecutor(script("hang"), timeout=1).dispatch(REQUEST)
    assert time.monotonic() - started < 2.5
    assert not ok and "timed out after 1 s" in message
    child = int(Path(f"{script.log}.child").read_text())
    deadline = time.monotonic() + 2
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_missing_program_or_an_option_like_host_is_a_failure_not_an_exception(tmp_path, script):
    ok, message = CommandExecutor([str(tmp_path / "no-such-program")], timeout=1).dispatch(REQUEST)
    assert not ok and message == f"command: program not found: {tmp_path / 'no-such-program'}"
    ok, message = CommandExecutor(script("ok"), timeout=10).dispatch(REQUEST | {"targets": ["--rm-all"]})
    assert not ok and "--rm-all" in message and not script.log.exists()


# ---------------------------------------------------------------- settings
@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("CYBEROPS_EXECUTOR", "CYBEROPS_EXECUTOR_URL", "CYBEROPS_EXECUTOR_SECRET",
                 "CYBEROPS_EXECUTOR_COMMAND", "CYBEROPS_EXECUTOR_TIMEOUT", "CYBEROPS_EXECUTOR_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_build_each_executor(clean_env):
    assert isinstance(executor_from_settings(Settings(_env_file=None)), SimulateExecutor)
    clean_env.setenv("CYBEROPS_EXECUTOR", "webhook")
    clean_env.setenv("CYBEROPS_EXECUTOR_URL", "https://soar.example.com/hooks/cyberops")
    clean_env.setenv("CYBEROPS_EXECUTOR_SECRET", SECRET)
    clean_env.setenv("CYBEROPS_EXECUTOR_RETRIES", "5")
    settings = load_settings()
    hook = executor_from_settings(settings)
    assert isinstance(hook, WebhookExecutor) and hook.retries == 5 and hook.timeout == 10
    assert SECRET in settings.secrets() and SECRET not in repr(settings)
    command = executor_from_settings(Settings(_env_file=None, cyberops_executor="command", cyberops_executor_timeout=3,
                                              cyberops_executor_command=shlex.join([sys.executable, "-c", "pass"])))
    assert isinstance(command, CommandExecutor) and command.timeout == 3
    assert command.argv == [sys.executable, "-c", "pass"]


@pytest.mark.parametrize("values, variable", [
    ({"cyberops_executor": "webhook", "cyberops_executor_secret": SECRET}, "CYBEROPS_EXECUTOR_URL"),
    ({"cyberops_executor": "webhook", "cyberops_executor_url": "ftp://x", "cyberops_executor_secret": SECRET},
     "CYBEROPS_EXECUTOR_URL"),
    ({"cyberops_executor": "webhook", "cyberops_executor_url": "https://x"}, "CYBEROPS_EXECUTOR_SECRET"),
    ({"cyberops_executor": "webhook", "cyberops_executor_url": "https://x", "cyberops_executor_secret": "short"},
     "CYBEROPS_EXECUTOR_SECRET"),
    ({"cyberops_executor": "command"}, "CYBEROPS_EXECUTOR_COMMAND"),
    ({"cyberops_executor": "command", "cyberops_executor_command": "'unclosed"}, "CYBEROPS_EXECUTOR_COMMAND"),
    ({"cyberops_executor": "command", "cyberops_executor_command": "/no/such/program --flag"},
     "CYBEROPS_EXECUTOR_COMMAND"),
])
def test_a_missing_or_wrong_executor_setting_names_its_variable(clean_env, values, variable):
    with pytest.raises(InputError) as err:
        executor_from_settings(Settings(_env_file=None, **values))
    assert err.value.field == variable and SECRET not in str(err.value)


def test_an_unknown_executor_or_bad_number_is_one_line_naming_the_variable(clean_env):
    clean_env.setenv("CYBEROPS_EXECUTOR", "ssh")
    with pytest.raises(InputError, match="CYBEROPS_EXECUTOR"):
        load_settings()
    clean_env.setenv("CYBEROPS_EXECUTOR", "webhook")
    clean_env.setenv("CYBEROPS_EXECUTOR_RETRIES", "-1")
    with pytest.raises(InputError, match="CYBEROPS_EXECUTOR_RETRIES"):
        load_settings()


def test_the_conversation_hands_its_executor_to_the_defence_loop(tmp_path):
    executor = CommandExecutor([sys.executable], timeout=1)
    conversation = build_conversation("demo", str(tmp_path / "c.db"), surfaces={}, channels={}, executor=executor)
    assert conversation.defence.executor is executor
    conversation.defence.close_connections()


def test_the_readme_verification_snippet_accepts_a_real_request_and_rejects_a_tampered_one():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Action dispatch", 1)[1].split("\n## ", 1)[0]
    namespace: dict = {}
    exec(section.split("```python\n", 1)[1].split("```", 1)[0], namespace)
    captured = {}
    with Receiver() as receiver:
        original = receiver.handle
        receiver.handle = lambda headers, body: (captured.update(headers=dict(headers), body=body),
                                                 original(headers, body))[1]
        assert webhook(receiver).dispatch(REQUEST)[0]
    verify = namespace["verify"]
    assert verify(SECRET.encode(), captured["headers"], captured["body"])
    assert not verify(SECRET.encode(), captured["headers"], captured["body"].replace(b"web-1", b"web-9"))
    assert not verify(b"another-secret", captured["headers"], captured["body"])
    assert json.loads(captured["body"]) == REQUEST and captured["headers"]["Idempotency-Key"] == REQUEST["idempotency_key"]
