"""``cyberops bench hostile`` once: every hostile input of the catalogue is rejected with no effect, the
approver's one genuine click runs its plan exactly once, and the LLM planner's attempts are refused."""

from __future__ import annotations

from bench.hostile import CATEGORIES, bench_hostile, format_report


def test_every_hostile_input_is_rejected_and_no_action_is_lost_or_doubled():
    r = bench_hostile()
    assert r["all_rejected"], format_report(r)
    for name in CATEGORIES:
        c = r["categories"][name]
        assert c["tried"] > 0 and c["rejected"] == c["tried"] and not c["got_through"], (name, c)
    assert r["tried"] == r["rejected"] == sum(c["tried"] for c in r["categories"].values()) >= 30
    assert r["categories"]["llm"]["tried"] == 2
    assert r["genuine_approvals"] == 1 and r["actions_executed"] > 0  # the control: a real click still works
    assert r["lost_or_duplicated_actions"] == 0 and r["executed_without_approval"] == 0
    assert not r["approved_not_by_the_approver"] and r["audit_chain_ok"]
    assert "all rejected" in format_report(r)
