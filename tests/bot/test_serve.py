"""``cyberops serve``: which surfaces run and why not, the services it builds, the twin's clock."""

from __future__ import annotations

import threading
import time

import discord
import pytest
from slack_fake_api import FakeSlackAPI

from bot.cli import main
from bot.serve import build_services, clock, start_clock
from bot.surface import Message
from bot.settings import Settings
from twin.errors import InputError


def test_with_no_tokens_serve_names_what_is_missing_and_points_to_the_demo(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in ("SLACK_BOT_TOKEN", "DISCORD_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN is not set" in err and "DISCORD_TOKEN is not set" in err and "cyberops demo" in err
    assert main(["serve", "--check"]) == 0
    assert "slack: off" in capsys.readouterr().out


def test_settings_say_why_a_half_configured_surface_does_not_run():
    reasons = Settings(_env_file=None, slack_bot_token="xoxb-1", discord_token="t").surfaces()
    assert "SLACK_SIGNING_SECRET" in reasons["slack"] and "CYBEROPS_DISCORD_CHANNEL" in reasons["discord"]
    assert Settings(_env_file=None, slack_bot_token="xoxb-1", slack_app_token="xapp-1",
                    cyberops_slack_channel="C1").surfaces()["slack"] is None  # Socket Mode needs no secret
    with pytest.raises(InputError):
        build_services(Settings(_env_file=None))


def test_serve_builds_both_surfaces_over_one_loop_with_the_scheduler(tmp_path):
    original = discord.http.Route.BASE
    with FakeSlackAPI() as api:
        settings = Settings(_env_file=None, slack_bot_token="xoxb-test", slack_signing_secret="s3cr3t",
                            slack_api_url=api.base_url, cyberops_slack_channel="C1", discord_token="d-token",
                            cyberops_discord_channel=42, discord_api_url="http://127.0.0.1:9/api/v10",
                            cyberops_db=str(tmp_path / "serve.db"), cyberops_scenario="demo")
        try:
            services = build_services(settings)
        finally:
            discord.http.Route.BASE = original
        conversation = services.conversation
        assert set(conversation.surfaces) == {"slack", "discord"}
        assert conversation.channels == {"slack": "C1", "discord": "42"}
        assert conversation.scheduler is services.scheduler and services.slack_app is not None
        assert any("anyone in the channel may approve" in note for note in services.notes)
        assert conversation.defence.tick_on_act is False  # a live twin
        conversation.defence.close_connections()


def test_the_clock_steps_the_live_twin_until_stopped(tmp_path):
    from bot.chat_cli import build_conversation

    conversation = build_conversation("demo", str(tmp_path / "c.db"), surfaces={}, channels={})
    stop = threading.Event()
    thread = threading.Thread(target=clock, args=(conversation,), kwargs={"tick_seconds": 0.05, "stop": stop})
    thread.start()
    deadline = time.monotonic() + 10
    while int(conversation.defence.sim.t[0]) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(5)
    assert int(conversation.defence.sim.t[0]) >= 3 and not thread.is_alive()
    conversation.defence.close_connections()


def test_serves_clock_moves_the_twin_and_its_publisher_posts_each_incident_step_once(tmp_path):
    import io

    from rich.console import Console

    from bot.chat_cli import build_conversation
    from bot.console import ConsoleSurface

    out = io.StringIO()
    conversation = build_conversation("demo", str(tmp_path / "c.db"), channels={"console": "ops"},
                                      surfaces={"console": ConsoleSurface(Console(file=out, width=200))})
    conversation.command(Message("console", "alice", "ops", "autonomy auto"))  # no step waits for a person
    stop = threading.Event()
    threads = start_clock(conversation, tick_seconds=0.2, stop=stop)
    deadline = time.monotonic() + 60
    while "Step 2 done" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)  # stop well before the next tick (0.2 s) could open a second incident
    stop.set()
    for thread in threads:
        thread.join(10)
    assert not any(t.is_alive() for t in threads)
    text = out.getvalue()
    assert "Step 2 done" in text and text.count("Step 0 done") == 1 and text.count("Step 1 done") == 1
    assert conversation.publisher is not None and int(conversation.defence.sim.t[0]) >= 3
    conversation.defence.close_connections()


def test_an_inventory_at_start_becomes_the_twin_and_a_reimport_keeps_host_state(tmp_path):
    from pathlib import Path

    from bot.serve import inventory_scenario

    data = Path(__file__).resolve().parents[1] / "data" / "inventory" / "office.yaml"
    settings = Settings(_env_file=None, cyberops_inventory=str(data), cyberops_db=str(tmp_path / "inv.db"))
    notes: list[str] = []
    scenario = inventory_scenario(settings, notes)
    assert scenario == str(tmp_path / "cyberops-inventory-scenario.yaml") and "inventory:" in notes[0]
    from twin.build import build_network
    from twin.scenario import load_scenario
    from twin.topology_file import load_topology_file

    assert build_network(load_scenario(scenario)).n_nodes == load_topology_file(data).number_of_nodes()
    again: list[str] = []
    assert inventory_scenario(settings, again) == scenario and "0 added, 0 retired" in again[0]
    assert inventory_scenario(Settings(_env_file=None), []) is None
