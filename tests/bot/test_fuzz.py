"""Hostile and random input (property-based): intent parsing, slash commands and the scenario loader
never crash, never approve by accident, never act without a confirmation, and answer in bounded words."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from bot.console import ConsoleSurface
from bot.conversation import MAX_TEXT, Conversation
from bot.surface import Click, Message
from graph.intent_rules import CONFIRM_PHRASES, normalise, strip_mentions
from graph.intent_slots import TwinNames
from graph.intents import IntentRecogniser
from graph.runtime import Defence
from memory.store import open_store
from twin.errors import InputError
from twin.scenario import scenario_from_dict

SCENARIO = {
    "name": "fuzz", "seed": 3, "horizon": 40,
    "topology": {"subnets": 2, "nodes_per_subnet": 10, "generator": "tree", "entry_nodes": 2, "high_value_nodes": 1},
    "attack": {"mode": "recon", "intensity": 2, "p_detect": 1.0},
    "defender": {"actions_per_step": 3},
}
INTENTS = {"status", "report", "isolate", "patch", "reset", "recover", "defend", "protect", "confirm", "reject",
           "stop", "resume", "explain", "simulate", "help", "unknown"}
WORDS = ["approve", "confirm", "yes", "not", "don't", "isolate", "patch", "all", "everything", "ignore", "previous",
         "instructions", "SYSTEM:", "operator", "approved", "?", "subnet", "0", "1", "but", "except", "<@U123>",
         "sub0-db-1", "now", "every", "weekday", "at", "9", "🙂", "\u202e", "\x00", "'; DROP TABLE audit_log;--"]
texts = st.one_of(st.text(max_size=300), st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join))


@pytest.fixture(scope="module")
def recogniser():
    return IntentRecogniser(names=TwinNames.from_network(_network()))


def _network():
    from twin.build import build_network

    return build_network(scenario_from_dict(SCENARIO))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts)
def test_any_text_reads_as_a_known_intent_and_confirm_only_from_an_exact_phrase(recogniser, text):
    result = recogniser.recognise(text)
    assert result["intent"] in INTENTS and 0.0 <= result["confidence"] <= 1.0
    if result["intent"] == "confirm":
        assert normalise(strip_mentions(text)) in CONFIRM_PHRASES  # a chat mention (<@U1>) is not part of it


@pytest.fixture(scope="module")
def chat(tmp_path_factory, recogniser, weights):
    store = open_store(tmp_path_factory.mktemp("fuzz") / "f.db")
    defence = Defence(scenario=scenario_from_dict(SCENARIO), store=store, agents=weights, tick_on_act=False,
                      restore=False)
    surface = ConsoleSurface(Console(file=io.StringIO(), width=120),
                             image_dir=str(tmp_path_factory.mktemp("images")))
    yield Conversation(defence=defence, surfaces={"console": surface}, channels={"console": "t"},
                       approvers={"alice"}, recognise=recogniser.recognise)
    defence.close_connections()
    store.close()


def _executed(chat) -> int:
    return sum(1 for e in chat.defence.audit.entries() if e["event"] in ("approved", "executed"))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts, as_command=st.booleans())
def test_random_commands_and_messages_never_crash_and_never_act(chat, text, as_command):
    before = _executed(chat)
    msg = Message("console", "mallory", "t", text)
    reply = chat.command(msg) if as_command else chat.message(msg)
    assert reply is None or (isinstance(reply.text, str) and 0 < len(reply.text) <= 4000)
    assert _executed(chat) == before  # mallory is no approver: nothing may be approved or run


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(incident=st.text(max_size=40), interrupt=st.text(max_size=60), decision=st.sampled_from(["approve", "reject"]))
def test_forged_button_values_do_nothing(chat, incident, interrupt, decision):
    before = len(chat.defence.audit)
    reply = chat.click(Click("console", "alice", "t", incident, interrupt, decision))
    assert reply.text and len(chat.defence.audit) == before


def test_an_oversized_message_is_read_only_up_to_the_limit(chat):
    seen = []
    chat._recognise, original = (lambda t: seen.append(t) or {"intent": "unknown", "clarify": None,
                                                             "targets": {}, "exclude": {}}), chat._recognise
    try:
        chat.message(Message("console", "a", "t", "x" * 1_000_000))
    finally:
        chat._recognise = original
    assert len(seen[0]) == MAX_TEXT


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=20))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(
        ["name", "seed", "horizon", "episodes", "topology", "attack", "defender", "shifts", "subnets",
         "nodes_per_subnet", "generator", "mode", "intensity", "p_detect", "actions_per_step", "file", "x"]),
        inner, max_size=6)), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(data=documents)
def test_any_scenario_document_loads_or_is_one_clear_input_error(data):
    try:
        scenario_from_dict(data if isinstance(data, dict) else {"value": data}, source="fuzz.yaml")
    except InputError as exc:
        assert str(exc).startswith("fuzz.yaml") and "\n" not in str(exc)
