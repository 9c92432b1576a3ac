from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.cli import main
from ompo_envs.evaluation.winrate import bootstrap_mean_ci, load_prompt_file, win_rate
from tests.evaluation.openai_server import FakeOpenAIServer


def test_win_rate_hand_computed():
    rng = np.random.default_rng(0)
    out = win_rate(np.array([1.0, 0.5, 0.2]), np.array([0.0, 0.5, 0.8]), rng, n_bootstrap=200)
    assert out["win_rate"] == pytest.approx((1 + 0.5 + 0.2) / 3)
    assert out["hard_win_rate"] == 0.5 and (out["wins"], out["ties"], out["losses"]) == (1, 1, 1)
    assert out["order_gap"] == 0.0
    low, high = out["win_rate_ci"]
    assert 0.2 - 1e-12 <= low <= out["win_rate"] <= high <= 1.0
    # a judge with a position bias: both orders say "the first wins" 70 % of the time
    biased = win_rate(np.array([0.7]), np.array([0.7]), rng, n_bootstrap=10)
    assert biased["win_rate"] == 0.5 and biased["order_gap"] == pytest.approx(0.4)


def test_bootstrap_resamples_clusters():
    rng = np.random.default_rng(1)
    values = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    # two clusters of identical values: every resample is 0, ½ or 1
    low, high = bootstrap_mean_ci(values, list("aaabbb"), rng, n_bootstrap=500)
    assert (low, high) == (0.0, 1.0)
    same = bootstrap_mean_ci(values, None, np.random.default_rng(1), n_bootstrap=500)
    assert same == bootstrap_mean_ci(values, None, np.random.default_rng(1), n_bootstrap=500)
    with pytest.raises(ValueError, match="labels"):
        bootstrap_mean_ci(values, ["a"], rng)
    with pytest.raises(ValueError, match="finite"):
        bootstrap_mean_ci(np.array([np.nan]), None, rng)
    with pytest.raises(ValueError, match="1-D of one length"):
        win_rate(np.ones(2), np.ones(3), rng)


def test_prompt_file(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"prompt": "hi"}\n\n{"id": "x", "messages": [{"role": "user", "content": "yo"}]}\n'
    )
    items = load_prompt_file(path)
    assert [i.id for i in items] == ["1", "x"] and items[1].messages[0]["content"] == "yo"
    path.write_text('{"text": "hi"}\n')
    with pytest.raises(ValueError, match="line 1"):
        load_prompt_file(path)


def respond(body):
    if body["model"] == "good":
        return "GOOD answer"
    if body["model"] == "bad":
        return "BAD answer"
    prediction = body["messages"][-1]["content"]
    return "Rating: [[9]]" if "GOOD answer \n ***" in prediction else "Rating: [[2]]"


def test_winrate_command(tmp_path):
    with FakeOpenAIServer(respond) as server:
        argv = [
            "winrate", "--model-a", server.url, server.url, "--name-a", "good", "bad",
            "--model-b", server.url, "--name-b", "bad", "--judge", server.url,
            "--judge-model", "judge", "--tasks", "GR", "MR", "--limit", "2", "--bootstrap", "200",
            "--out", str(tmp_path),
        ]  # fmt: skip
        assert main(argv) == 0
        calls = server.count()
        assert main(argv) == 0 and server.count() == calls  # all from the cache
    summary = json.loads((tmp_path / "winrate.json").read_text())
    good, same = summary["results"]
    sigma7 = 1 / (1 + np.exp(-7))
    assert good["win_rate"] == pytest.approx(sigma7) and good["win_rate_ci"] == pytest.approx(
        [sigma7] * 2
    )
    assert same["win_rate"] == 0.5 and same["ties"] == same["n"]
    pairs = [json.loads(x) for x in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == 2 * good["n"] and {p["task"] for p in pairs} == {"GR", "MR"}
    assert (tmp_path / "winrate.png").stat().st_size > 0
