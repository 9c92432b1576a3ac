"""``ompo-bench lm-known-ne`` end to end at a tiny size.

The full run is a benchmark, not a test: its results file ``benchmarks/lm_known_ne.json`` is
committed, and ``test_lm_known_ne_results.py`` checks README's claims against that file.
"""

from __future__ import annotations

import json

from benchmarks import cli


def test_a_tiny_run_writes_results_and_a_plot(tmp_path, capsys):
    assert (
        cli.main(
            [
                "lm-known-ne",
                "--games",
                "TextRockPaperScissors-v0",
                "--solvers",
                "OMPO",
                "DPO",
                "--seeds",
                "0",
                "--iterations",
                "1",
                "--workers",
                "0",
                "--answers-per-iteration",
                "64",
                "--eval-episodes",
                "16",
                "--out",
                str(tmp_path),
                "--no-progress",
            ]
        )
        == 0
    )
    (json_path,) = tmp_path.glob("*.json")
    results = json.loads(json_path.read_text())
    row = results["games"]["TextRockPaperScissors-v0"]["OMPO"]
    assert len(row["exploitability"]) == len(row["stderr"]) == 2  # warm start + 1 iteration
    assert row["start_per_seed"][0] >= 0.3  # the warm start is far from the NE
    assert abs(sum(row["time_split"].values()) - 1.0) < 1e-9
    assert json_path.with_suffix(".png").is_file()
    assert "| TextRockPaperScissors-v0 | OMPO |" in capsys.readouterr().out
