"""Slots and schedules by rules (graph/intent_slots.py, graph/intent_schedule.py): no model needed."""

from __future__ import annotations

import pytest

from graph.intent_schedule import parse_schedule
from graph.intent_slots import TwinNames, extract_slots, mask_hosts
from twin.build import build_network
from twin.scenario import load_scenario

DEMO = TwinNames.demo()


def slots(text: str, names: TwinNames = DEMO) -> tuple[dict, dict]:
    targets, exclude = extract_slots(text, names)
    return ({k: set(v) for k, v in targets.items() if v}, {k: set(v) for k, v in exclude.items() if v})


def test_demo_names_come_from_the_demo_twin_and_are_built_once():
    assert DEMO is TwinNames.demo()
    assert DEMO.subnets == ("servers", "rnd", "mgmt", "tech", "ops")
    assert "srv-db-01" in DEMO.hosts and len(DEMO.hosts) == 450
    assert {"web", "app", "db", "workstation", "dc"} <= set(DEMO.roles)


@pytest.mark.parametrize(("text", "targets"), [
    ("isolate srv-web-01", {"hosts": {"srv-web-01"}}),
    ("ISOLATE SRV-WEB-01!", {"hosts": {"srv-web-01"}}),
    ("quarantine srv-web-1", {"hosts": {"srv-web-01"}}),             # typo: one digit short
    ("reset srv-wbe-02", {"hosts": {"srv-web-02"}}),                 # typo: swapped letters
    ("disconnect tech-pc-010 and tech-pc-011", {"hosts": {"tech-pc-010", "tech-pc-011"}}),
    ("is srv-zzz-99 ok", {}),                                       # not a host of this twin
    ("block 10.0.0.5", {}),                                         # an address is not a host name
    ("patch subnet 3", {"subnets": {"tech"}}),                      # numbered from 0
    ("patch subnets 1 and 3", {"subnets": {"rnd", "tech"}}),
    ("patch subnet two", {"subnets": {"mgmt"}}),
    ("patch subnet 9", {}),                                         # no such subnet
    ("reset the rnd machines", {"subnets": {"rnd"}}),
    ("how is r&d doing", {"subnets": {"rnd"}}),
    ("isolate every machine in ops", {"subnets": {"ops"}}),
    ("the ops team is busy", {"subnets": {"ops"}}),
    ("ops, what happened", {}),                                     # a common word without context
    ("counter the attack on the servers subnet", {"subnets": {"servers"}}),
    ("patch all servers", {"subnets": {"servers"}}),
    ("patch the web servers", {"roles": {"web"}}),                  # a role, not the servers subnet
    ("protect the database servers", {"roles": {"db"}}),
    ("keep the attacker away from the file servers", {"roles": {"file"}}),
    ("roll out the hotfix to all workstations and laptops", {"roles": {"workstation"}}),
    ("guard the domain controllers", {"roles": {"dc"}}),
    ("safeguard the backups", {"roles": {"backup"}}),
    ("install the missing updates on srv-file-01", {"hosts": {"srv-file-01"}}),  # "updates" is no role
    ("contain the infected laptop ops-pc-033", {"hosts": {"ops-pc-033"}}),        # "laptop" describes the host
    ("isolate all subnets", {"subnets": set(DEMO.subnets)}),
    ("<@U024BE7LH> status", {}),
])
def test_targets_come_only_from_names_the_twin_has(text, targets):
    assert slots(text) == (targets, {})


@pytest.mark.parametrize(("text", "targets", "exclude"), [
    ("patch everything in subnet 3 but don't touch the database", {"subnets": {"tech"}}, {"roles": {"db"}}),
    ("isolate the rnd subnet except rnd-pc-001", {"subnets": {"rnd"}}, {"hosts": {"rnd-pc-001"}}),
    ("isolate ops, excluding ops-pc-001 and ops-pc-002", {}, {"hosts": {"ops-pc-001", "ops-pc-002"}}),
    ("patch subnets 1 and 2 but not subnet 2", {"subnets": {"rnd"}}, {"subnets": {"mgmt"}}),
    ("reset all workstations apart from mgmt-pc-001", {"roles": {"workstation"}}, {"hosts": {"mgmt-pc-001"}}),
    ("patch the servers, not the db", {"subnets": {"servers"}}, {"roles": {"db"}}),
    ("leave srv-db-01 alone and reset the rest of the web servers", {"roles": {"web"}}, {"hosts": {"srv-db-01"}}),
    ("do not touch subnet 0; isolate subnet 1", {"subnets": {"rnd"}}, {"subnets": {"servers"}}),
    ("isolate subnet 1 other than the database servers", {"subnets": {"rnd"}}, {"roles": {"db"}}),
])
def test_exclusions_run_from_their_marker_to_the_end_of_the_clause(text, targets, exclude):
    assert slots(text) == (targets, exclude)


def test_names_come_from_the_twin_given():
    paper = TwinNames.from_network(build_network(load_scenario("paper-base")))
    assert slots("isolate sub0-web-01 and subnet 2", paper) == ({"hosts": {"sub0-web-01"}, "subnets": {"sub2"}}, {})
    assert slots("patch sub3 except the db", paper) == ({"subnets": {"sub3"}}, {"roles": {"db"}})
    assert slots("isolate srv-web-01", paper) == ({}, {})  # a demo host is not in this twin


def test_host_names_are_masked_for_the_model_and_addresses_too():
    assert mask_hosts("Isolate SRV-WEB-01 and srv-web-1 from 10.0.0.5", DEMO) == "Isolate host and host from address"


@pytest.mark.parametrize(("text", "cron", "span"), [
    ("send me a posture report every weekday at 9", "0 9 * * 1-5", "every weekday at 9"),
    ("daily at 09:00", "0 9 * * *", "daily at 09:00"),
    ("every monday 8am", "0 8 * * 1", "every monday 8am"),
    ("every 2 hours", "0 */2 * * *", "every 2 hours"),
    ("hourly please", "0 * * * *", "hourly"),
    ("every 15 minutes", "*/15 * * * *", "every 15 minutes"),
    ("every friday at 5pm", "0 17 * * 5", "every friday at 5pm"),
    ("every sunday at 12am", "0 0 * * 0", "every sunday at 12am"),
    ("every monday and thursday at 9:30", "30 9 * * 1,4", "every monday and thursday at 9:30"),
    ("on mondays at noon", "0 12 * * 1", "mondays at noon"),
    ("every weekend at 10pm", "0 22 * * 0,6", "every weekend at 10pm"),
    ("every night", "0 22 * * *", "every night"),
    ("weekly", "0 9 * * 1", "weekly"),                            # no time given: 09:00
    ("every 3 days at 7:15", "15 7 */3 * *", "every 3 days at 7:15"),
    ("Every Weekday At 9", "0 9 * * 1-5", "Every Weekday At 9"),  # span keeps the operator's case
])
def test_recurring_phrases_become_five_field_cron(text, cron, span):
    assert parse_schedule(text) == {"cron": cron, "text": span}


@pytest.mark.parametrize("text", [
    "at 5pm", "isolate it on monday", "every machine in ops", "run with attack intensity 8",
    "every 90 minutes", "patch srv-web-01 now",
])
def test_one_offs_and_unrepresentable_intervals_have_no_schedule(text):
    assert parse_schedule(text) is None
