"""The ``cyberops`` command line: run as a user runs it (a subprocess) where exit codes and
stderr matter, in-process where only the output does (each spawn costs ~1 s of imports)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import EXIT_BAD_INPUT, main
from twin.scenario import shipped_scenarios

REPO = Path(__file__).resolve().parents[2]


def cyberops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


# ------------------------------------------------------------ help
@pytest.mark.parametrize(("args", "mentions"), [
    ([], ["sim", "bench", "scenarios"]),
    (["sim"], ["--scenario", "--episodes", "--seed", "--defender", "--json"]),
    (["bench"], ["sim"]),
    (["bench", "sim"], ["--nodes", "--batch", "--steps", "--json"]),
    (["scenarios"], ["shipped scenarios"]),
    (["eval"], ["--scenario", "--defenders", "--seeds", "--episodes", "--json"]),
])
def test_help_works_on_every_command(args, mentions):
    done = cyberops(*args, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: cyberops {' '.join(args)}".rstrip())
    for word in mentions:
        assert word in done.stdout
    assert done.stderr == ""


# ------------------------------------------------------------ sim
def test_sim_json_prints_one_object_with_one_phase_of_sane_numbers():
    done = cyberops("sim", "--scenario", "paper-base", "--episodes", "2", "--json")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert (out["scenario"], out["defender"]) == ("paper-base", "hierarchical")
    (phase,) = out["phases"]
    assert phase["phase"] == "base" and phase["episodes"] == 2
    for key in ("availability", "healthy_ratio", "hvn_loss_rate"):
        assert 0.0 <= phase[key] <= 1.0, key
    assert phase["availability_ci95"] >= 0 and math.isfinite(phase["availability_ci95"])
    assert 1 <= phase["mean_steps"] <= 30
    assert 0 <= phase["mean_max_compromised"] <= 150


def test_sim_json_on_paper_shifts_has_the_base_and_four_shift_phases():
    done = cyberops("sim", "--scenario", "paper-shifts", "--episodes", "1", "--json", "--defender", "sleep")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert [p["phase"] for p in out["phases"]] == ["base", "A1-structure", "A2-scale", "A3-policy", "A4-intensity"]
    assert all(p["episodes"] == 1 and 0 <= p["availability"] <= 1 for p in out["phases"])


BAD = {
    "unknown-key-in-a-shift": ("s.yaml", "name: t\nshifts:\n  - {name: s1, topology: {generatr: tree}}\n",
                               "shifts[0].topology.generatr: unknown key"),
    "bad-yaml": ("s.yaml", "name: t\nattack: {mode: recon\n", "line 3: invalid YAML"),
    "wrong-type": ("s.json", '{"name": "t", "attack": {"intensity": "high"}}', "attack.intensity: "),
    "missing-topology-file": ("s.yaml", "name: t\ntopology: {generator: file, file: gone.json}\n",
                              "topology.file: no such file"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_sim_on_a_malformed_scenario_prints_one_line_naming_file_and_field_and_exits_2(tmp_path, case):
    name, text, fragment = BAD[case]
    path = write(tmp_path, name, text)
    done = cyberops("sim", "--scenario", str(path), "--episodes", "1", "--json")
    assert done.returncode == EXIT_BAD_INPUT == 2
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"cyberops: error: {path}: ")
    assert fragment in lines[0]


def test_sim_with_an_unknown_scenario_name_exits_2_listing_the_shipped_ones():
    done = cyberops("sim", "--scenario", "no-such-scenario")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("cyberops: error: no-such-scenario: no such file, and not a shipped scenario")
    assert "paper-base" in line


# ------------------------------------------------------------ bench and scenarios
def test_bench_sim_json_prints_one_object_of_positive_rates():
    done = cyberops("bench", "sim", "--nodes", "30", "--batch", "8", "--steps", "50", "--json")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()
    out = json.loads(line)
    assert (out["nodes"], out["batch"]) == (30, 8)
    for key in ("single_steps_per_s", "batched_env_steps_per_s"):
        assert isinstance(out[key], int | float) and out[key] > 0, key


def test_scenarios_lists_every_shipped_scenario_with_its_description():
    done = cyberops("scenarios")
    assert done.returncode == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.splitlines()]
    assert listed == sorted(shipped_scenarios()) and "paper-base" in listed and "demo" in listed
    assert all(len(line.split()) > 1 for line in done.stdout.splitlines())


# ------------------------------------------------------------ in-process
def test_sim_shows_each_phase_by_name_and_a_summary(capsys):
    assert main(["sim", "--scenario", "paper-shifts", "--episodes", "1", "--defender", "sleep"]) == 0
    lines = capsys.readouterr().out.splitlines()
    summary = next(i for i, line in enumerate(lines) if "Summary (defender: sleep)" in line)
    for name in ("base", "A1-structure", "A2-scale", "A3-policy", "A4-intensity"):
        assert any(line.startswith(f"{name}: ") for line in lines[:summary]), f"{name} not announced"
        assert any(f" {name} " in line for line in lines[summary:]), f"{name} not in the summary table"


@pytest.mark.parametrize(("args", "message"), [
    (["sim", "--scenario", "paper-base", "--episodes", "0"], "command line: --episodes: must be at least 1"),
    (["sim", "--scenario", "paper-base", "--seed", "-1"], "command line: --seed: must be 0 or more"),
    (["bench", "sim", "--nodes", "2"], "command line: --nodes/--batch/--steps"),
    (["bench", "sim", "--seed", "-5", "--batch", "2", "--steps", "5"], "command line: --seed: must be 0 or more"),
])
def test_bad_command_line_numbers_are_one_line_errors_with_exit_2(capsys, args, message):
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"cyberops: error: {message}")


def test_sim_rejects_a_negative_seed_in_the_scenario_file(tmp_path, capsys):
    path = write(tmp_path, "s.yaml", "name: t\nseed: -3\n")
    assert main(["sim", "--scenario", str(path), "--json"]) == 2
    assert capsys.readouterr().err.startswith(f"cyberops: error: {path}: seed: ")


# ------------------------------------------------------------ eval
def test_eval_json_has_the_documented_shape_for_every_defender_phase_and_metric(capsys):
    from rl_agents.harness import METRICS

    code = main(["eval", "--scenario", "paper-shifts", "--defenders", "greedy,sleep", "--seeds", "2",
                 "--episodes", "2", "--workers", "1", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert {"scenario", "seeds", "defenders"} <= set(report) and report["seeds"] == 2
    assert set(report["defenders"]) == {"greedy", "sleep", "flat-marl"}  # the reference always plays
    for d in report["defenders"].values():
        assert [p["name"] for p in d["phases"]] == ["base", "A1-structure", "A2-scale", "A3-policy", "A4-intensity"]
        for cell in (d["overall"], *d["phases"]):
            for metric in METRICS:
                assert set(cell[metric]) == {"mean", "ci95"}
        assert 0.0 <= d["overall"]["availability"]["mean"] <= 1.0
    assert report["defenders"]["flat-marl"]["overall"]["jumpstart"]["mean"] == 0.0


@pytest.mark.parametrize(("args", "mentions"), [
    (["--defenders", "greedy,ppo"], "--defenders: unknown defender 'ppo'"),
    (["--seeds", "0"], "--seeds: must be at least 1"),
    (["--scenario", "no-such-scenario"], "not a shipped scenario"),
])
def test_eval_rejects_bad_arguments_with_one_line(args, mentions):
    done = cyberops("eval", *args)
    assert done.returncode == EXIT_BAD_INPUT
    assert mentions in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
