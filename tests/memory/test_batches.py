"""The loop's batched memory writes behave as their one-at-a-time forms: known keys are kept, an executed
action stays executed, an approved action is claimed once, and each action's first entry is found."""

from __future__ import annotations

from memory.audit import AuditLog
from memory.short_term import ShortTermMemory
from memory.store import open_store


def memory():
    store = open_store(":memory:")
    return ShortTermMemory(store), AuditLog(store)


def test_proposing_many_keeps_actions_already_known():
    short, _ = memory()
    short.open_incident("INC-1", title="t")
    short.propose_action("INC-1", key="k0", kind="patch", targets=["web-1"])
    short.set_action_status("k0", "approved")
    short.propose_actions("INC-1", [("k0", "isolate", ["db-1"]), ("k1", "reset", ["app-1"])])
    assert short.action("k0").kind == "patch" and short.action("k0").status == "approved"
    assert short.action("k1").kind == "reset" and short.action("k1").targets == ("app-1",)


def test_settling_many_leaves_executed_actions_executed_and_unknown_keys_alone():
    short, _ = memory()
    short.open_incident("INC-1", title="t")
    short.propose_actions("INC-1", [(f"k{i}", "patch", [f"h{i}"]) for i in range(3)])
    short.settle_actions(["k0", "k1"], "approved")
    assert short.claim_execution("k0")
    assert short.settle_actions(["k0", "k1", "k2", "nope"], "rejected") == 2
    assert [short.action(k).status for k in ("k0", "k1", "k2")] == ["executed", "rejected", "rejected"]


def test_claiming_many_claims_each_approved_action_once_and_says_how_things_stood():
    short, _ = memory()
    short.open_incident("INC-1", title="t")
    short.propose_actions("INC-1", [(f"k{i}", "patch", [f"h{i}"]) for i in range(3)])
    short.settle_actions(["k0", "k1"], "approved")
    claimed, before = short.claim_executions(["k0", "k1", "k2"])
    assert claimed == {"k0", "k1"} and before == {"k0": "approved", "k1": "approved", "k2": "pending"}
    again, before = short.claim_executions(["k0", "k1", "k2"])
    assert again == set() and before["k0"] == "executed"


def test_the_first_entry_of_each_action_in_one_query():
    _, audit = memory()
    for who in ("amy", "bob"):
        audit.append("approved", who=who, incident="INC-1", action_id="k0", targets=["h0"])
    audit.append("approved", who="cy", incident="INC-1", action_id="k1", targets=["h1"], result={"ok": True})
    found = audit.entries_of(["k0", "k1", "k2"], "approved")
    assert set(found) == {"k0", "k1"} and found["k0"]["who"] == "amy" and found["k1"]["result"] == {"ok": True}
    assert found["k1"]["targets"] == ["h1"] and audit.entries_of(["k0"], "executed") == {}
