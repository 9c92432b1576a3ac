"""The claims README makes from the committed full run of ``ompo-bench lm-known-ne``.

``benchmarks/lm_known_ne.json`` is the output of the command README names (the defaults); these
tests read it (nothing is re-run) and check the issue's acceptance and every number README shows.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from benchmarks import lm_known_ne

RESULTS = Path(lm_known_ne.__file__).with_name("lm_known_ne.json")
README = Path(__file__).parents[3] / "README.md"
RPS, LIFTED = "TextRockPaperScissors-v0", "TextRepeatedRockPaperScissors-v0"
METHODS = {"OMPO", "MPO", "SPPO", "DPO"}


@pytest.fixture(scope="module")
def results():
    return json.loads(RESULTS.read_text())


def test_the_committed_run_is_the_defaults_in_the_documented_form(results):
    defaults = json.loads(json.dumps(asdict(lm_known_ne.LMKnownNEConfig())))
    assert results["config"] == defaults
    assert RESULTS.with_suffix(".png").is_file()
    for game in (RPS, LIFTED):
        assert set(results["games"][game]) == METHODS
        for row in results["games"][game].values():
            assert len(row["exploitability"]) == len(row["stderr"]) == defaults["iterations"] + 1
            assert row["wall_seconds"] > 0 and min(row["stderr"]) >= 0
    assert {len(r["exploitability"]) for r in results["runs"]} == {defaults["iterations"] + 1}


def test_ompo_last_iterate_is_the_lowest_on_both_games_and_reaches_0_05_on_two_seeds(results):
    row = results["games"][RPS]["OMPO"]
    assert min(row["start_per_seed"]) >= 0.3  # the warm start is far from the NE
    assert row["first_at_or_below_0.05"] == [None, 29, 24]
    for game in (RPS, LIFTED):
        last = {name: r["exploitability"][-1] for name, r in results["games"][game].items()}
        assert min(last, key=last.get) == "OMPO", game


def test_the_rest_is_at_most_a_tenth_of_the_iterations_time(results):
    for game in results["games"].values():
        for row in game.values():
            assert row["time_split"]["rest"] <= 0.10
            assert sum(row["time_split"].values()) == pytest.approx(1.0)


def test_ompo_is_the_lowest_on_the_lifted_h3_game(results):
    last = {name: row["exploitability"][-1] for name, row in results["games"][LIFTED].items()}
    assert min(last, key=last.get) == "OMPO"


def test_the_numbers_readme_states(results):
    rps = results["games"][RPS]
    assert [round(v, 3) for v in rps["OMPO"]["last_per_seed"]] == [0.055, 0.048, 0.029]
    assert max(
        row["time_split"]["rest"] for g in results["games"].values() for row in g.values()
    ) < (0.0395)
    assert round(results["wall_seconds"]) == 168
    assert round(results["cpu_seconds"]) == 315
    assert round(lm_known_ne.idle_makespan(results)) == 165
    dpo = next(r for r in results["runs"] if r["game"] == LIFTED and r["solver"] == "DPO")
    assert round(dpo["cpu_seconds"]) == 56
    assert round(results["games"][LIFTED]["DPO"]["time_split"]["oracle"], 2) == 0.06
    assert results["environment"]["cpu"]


def test_the_defaults_fit_in_ten_minutes_on_two_cores(results):
    """The issue's bound, on the committed run: wall time and the CPU schedule on 2 workers."""
    assert results["config"]["workers"] == 2
    assert results["wall_seconds"] <= 600
    assert lm_known_ne.idle_makespan(results) <= 600


def test_readme_shows_this_table(results):
    assert lm_known_ne.table_markdown(results) in README.read_text()
