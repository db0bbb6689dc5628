"""The README's promises: two set-up commands, CI runs the test one, commands documented."""

from __future__ import annotations

import re
from pathlib import Path

from bot.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _setup_commands() -> list[str]:
    section = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)


def test_readme_has_exactly_two_setup_commands_that_create_the_venv_when_missing():
    commands = _setup_commands()
    assert len(commands) == 2
    for cmd in commands:
        assert "\n" not in cmd.strip()
        assert cmd.startswith("[ -d .venv ] || python3 -m venv .venv;")
    assert commands[0].endswith("cyberops demo")
    assert commands[1].endswith("python -m pytest")


def test_ci_runs_the_readme_test_command_and_nothing_else():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [ln for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[-1] == _setup_commands()[1]
    assert all(ln.startswith(("set ", "cd ")) for ln in lines[:-1])


def _subcommands(parser, prefix=""):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield f"{prefix}{name}"
                yield from _subcommands(sub, f"{prefix}{name} ")


def test_every_cli_subcommand_is_documented_in_the_readme():
    names = list(_subcommands(build_parser()))
    assert {"sim", "bench sim", "bench availability", "scenarios"} <= set(names)
    for name in names:
        if name == "bench":
            continue
        assert f"cyberops {name}" in README, name


def test_every_shipped_scenario_is_named_in_the_readme():
    from twin.scenario import shipped_scenarios

    for name in shipped_scenarios():
        assert f"`{name}`" in README, name
