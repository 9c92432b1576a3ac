"""Every registered env passes PettingZoo's own API and seed tests (one parametrized test)."""

from __future__ import annotations

import warnings

import numpy as np
import pettingzoo
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test
from pettingzoo.utils.conversions import parallel_to_aec

import ompo_envs
from ompo_envs.oracles.base import PreferenceOracle


class _LengthOracle(PreferenceOracle):
    """A cheap stand-in preference model: longer answers win, P = σ((|a| − |b|)/20)."""

    def _ordered_logits(self, contexts, first, second):
        return np.array([(len(a) - len(b)) / 20.0 for a, b in zip(first, second, strict=True)])


#: Small, cheap settings per id; envs that need a preference model get the cheap oracle.
_CHEAP_KWARGS = {
    "RandomGame-v0": {"num_states": 6, "num_actions": 3, "horizon": 4},
    "MTBench101-v0": {"oracle": _LengthOracle()},
    "GSM8K-v0": {"oracle": _LengthOracle()},
    "GSM8K-v1": {"oracle": _LengthOracle()},
    "MATH-v0": {"oracle": _LengthOracle()},
    "MATH-v1": {"oracle": _LengthOracle()},
    "MATH500-v0": {"oracle": _LengthOracle()},
}


def _make(env_id: str):
    return ompo_envs.make(env_id, **_CHEAP_KWARGS.get(env_id, {}))


@pytest.mark.parametrize("env_id", ompo_envs.list_envs())
def test_env_passes_pettingzoo_api_and_seed_tests(env_id: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PettingZoo's non-array observation notes
        parallel_api_test(_make(env_id), num_cycles=50)
        parallel_seed_test(lambda: _make(env_id), num_cycles=50)
        api_test(parallel_to_aec(_make(env_id)), num_cycles=50)


def test_every_env_is_in_pettingzoos_registry() -> None:
    env = pettingzoo.make("parallel", "ompo/RockPaperScissors-v0")
    assert type(env).__name__ == "RockPaperScissorsEnv"
    assert len(ompo_envs.list_envs()) >= 5
    for env_id in ompo_envs.list_envs():
        assert f"ompo/{env_id}" in pettingzoo.env_registry.registration.parallel_registry


def test_make_accepts_namespaced_and_short_ids() -> None:
    assert type(ompo_envs.make("ompo/IntransitiveVoters-v0")) is type(
        ompo_envs.make("IntransitiveVoters-v0")
    )


def test_unknown_id_names_close_matches() -> None:
    with pytest.raises(ValueError, match="RockPaperScissors-v0"):
        ompo_envs.make("RockPaperScisors-v0")
    with pytest.raises(ValueError, match="list_envs"):
        ompo_envs.make("NoSuchGame-v9")
    with pytest.raises(TypeError):
        ompo_envs.make(3)  # type: ignore[arg-type]


def test_make_passes_kwargs() -> None:
    env = ompo_envs.make("RandomGame-v0", game_seed=1, num_states=4, num_actions=2, horizon=3)
    game = env.unwrapped.game
    assert (game.num_states, game.num_actions, game.horizon) == (4, 2, 3)
