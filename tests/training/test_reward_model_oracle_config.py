"""``[oracle] kind = "reward-model"`` and ``"general-preference"``: built from tiny saved folders,
and one short ``ompo-train`` run judged by a reward model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from ompo_envs.oracles import GeneralPreferenceOracle, RewardModelOracle
from ompo_envs.oracles.tiny_models import (
    build_tiny_general_preference_model,
    build_tiny_reward_model,
)
from tests.training.conftest import read_rows, run_in_process
from training.config import ConfigError, OracleConfig, from_dict, load_config
from training.oracles import build_oracle

CTX = [{"role": "user", "content": "Rock, paper or scissors?"}]


@pytest.fixture(scope="module")
def reward_folder(tmp_path_factory):
    return build_tiny_reward_model(tmp_path_factory.mktemp("rm"))


def test_both_kinds_are_built_with_their_options(reward_folder, tmp_path):
    config = OracleConfig(
        kind="reward-model",
        path=str(reward_folder),
        batch_size=3,
        options={"temperature": 0.5, "dtype": "float32"},
    )
    oracle = build_oracle(config)
    assert isinstance(oracle, RewardModelOracle)
    assert (oracle.batch_size, oracle.temperature) == (3, 0.5)
    direct = RewardModelOracle.from_pretrained(reward_folder, temperature=0.5)
    assert oracle.compare_one(CTX, "rock", "paper") == direct.compare_one(CTX, "rock", "paper")

    gpm_folder = build_tiny_general_preference_model(tmp_path / "gpm", prompt_head=True)
    gpm = build_oracle(
        OracleConfig(kind="general-preference", path=str(gpm_folder), options={"temperature": 1})
    )
    assert isinstance(gpm, GeneralPreferenceOracle)
    assert gpm.temperature == 1.0 and gpm.embedding_dim == 4
    p = gpm.compare([CTX, CTX], ["rock", "paper"], ["paper", "rock"])
    np.testing.assert_allclose(p.sum(), 1.0, atol=1e-12)


def test_bad_settings_name_the_key(reward_folder, tmp_path):
    with pytest.raises(ConfigError, match=r"oracle\.kind = 'reward-model' could not be built"):
        build_oracle(
            OracleConfig(kind="reward-model", path=str(reward_folder), options={"tau": 1.0})
        )
    with pytest.raises(ConfigError, match="'general-preference' could not be built"):
        build_oracle(OracleConfig(kind="general-preference", path=str(tmp_path / "none")))
    for kind in ("reward-model", "general-preference"):
        with pytest.raises(ConfigError, match=r"oracle\.path is required"):
            from_dict({"model": {"path": "x"}, "env": {"id": "x"}, "oracle": {"kind": kind}})


def test_a_short_run_judged_by_a_reward_model(reward_folder, tmp_path):
    out = tmp_path / "run"
    overrides = [
        'oracle.kind="reward-model"',
        f'oracle.path="{reward_folder}"',
        'oracle.factory=""',
        'oracle.options={ truncation = "left", max_length = 256 }',
        'env.id="MTBench101-v0"',
        'env.options={ context = "generated", tasks = ["SA"] }',
        "env.episodes_per_iteration=1",
        "run.iterations=1",
        "warm_start.steps=0",
        "evaluate.exploitability_episodes=0",
    ]
    assert run_in_process(out, *overrides) == 0
    assert load_config(out / "config.toml").oracle.kind == "reward-model"
    [iteration] = read_rows(out / "iterations.jsonl")
    assert iteration["iteration"] == 1 and iteration["preference_queries"] > 0
    answers = [row["p"] for path in (out / "oracle_answers").iterdir() for row in read_rows(path)]
    assert answers and all(0.0 <= p <= 1.0 for p in answers)
    assert any(abs(p - 0.5) > 1e-3 for p in answers)  # the reward model's own judgements
