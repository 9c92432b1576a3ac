"""Every exact solver has the same interface, frozen configs and clear errors."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest

import solvers
from ompo_envs.envs import rock_paper_scissors_game
from ompo_envs.tabular import check_policy, exploitability, occupancy_measures, random_game
from solvers._common import build_config

ITERATIVE = [
    (solvers.OMPO, solvers.OMPOConfig),
    (solvers.MPO, solvers.MPOConfig),
    (solvers.SPPO, solvers.SPPOConfig),
    (solvers.SPO, solvers.SPOConfig),
    (solvers.MTPO, solvers.MTPOConfig),
    (solvers.NashMD, solvers.NashMDConfig),
    (solvers.EGPO, solvers.EGPOConfig),
    (solvers.ONPO, solvers.ONPOConfig),
    (solvers.MMD, solvers.MMDConfig),
    (solvers.FictitiousPlay, solvers.FictitiousPlayConfig),
]
ALL = [*ITERATIVE, (solvers.LPEquilibrium, solvers.LPConfig)]


def _game():
    return random_game(2, num_states=5, num_actions=3, horizon=3)


@pytest.mark.parametrize(("cls", "config_cls"), ALL, ids=lambda c: c.__name__)
def test_same_interface(cls, config_cls):
    game = _game()
    solver = cls(game, config_cls())
    assert isinstance(solver, solvers.Solver)
    assert solver.config == config_cls()
    for _ in range(3):
        metrics = solver.step()
        assert all(isinstance(v, float) for v in metrics.values())
    assert metrics["iteration"] == 3.0 == solver.iteration
    for policy in (solver.policy, solver.average_policy):
        check_policy(game, policy)
    # The average iterate's occupancy is the mean of the iterates' (App. E.2).
    np.testing.assert_allclose(
        occupancy_measures(game, solver.average_policy), solver.average_occupancy, atol=1e-12
    )
    evaluation = solver.evaluate()
    assert evaluation["exploitability_last"] == pytest.approx(
        exploitability(game, solver.policy), abs=1e-12
    )
    assert evaluation["exploitability_average"] == pytest.approx(
        exploitability(game, solver.average_policy), abs=1e-12
    )
    assert all(v >= -1e-9 for v in evaluation.values())


@pytest.mark.parametrize(("cls", "config_cls"), ALL, ids=lambda c: c.__name__)
def test_config_is_frozen_and_documented(cls, config_cls):
    config = config_cls()
    assert dataclasses.is_dataclass(config)
    source = inspect.getsource(config_cls)
    for field in dataclasses.fields(config):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(config, field.name, getattr(config, field.name))
        # A docstring right under every field (CleanRL style).
        after = source.split(f"    {field.name}:", 1)[1].split("\n", 2)[1]
        assert after.strip().startswith('"""'), f"{config_cls.__name__}.{field.name} undocumented"


@pytest.mark.parametrize(("cls", "config_cls"), ITERATIVE[:-1], ids=lambda c: c.__name__)
def test_keywords_equal_config(cls, config_cls):
    game = _game()
    by_config = cls(game, config_cls(beta=0.3))
    by_keyword = cls(game, beta=0.3)
    assert by_keyword.config == by_config.config
    by_config.step()
    by_keyword.step()
    np.testing.assert_array_equal(by_config.policy, by_keyword.policy)


def test_errors_say_what_to_do():
    game = _game()
    with pytest.raises(ValueError, match="beta must be finite and > 0"):
        solvers.OMPO(game, beta=0.0)
    with pytest.raises(ValueError, match="beta must be finite and > 0"):
        solvers.MPOConfig(beta=-1.0)
    with pytest.raises(TypeError, match="beta must be a real number"):
        solvers.MPOConfig(beta="0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bellman must be 'standard' or 'soft'"):
        solvers.OMPOConfig(bellman="exact")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"beta \* alpha must be <= 1"):
        solvers.NashMDConfig(beta=10.0, alpha=0.5)
    with pytest.raises(ValueError, match=r"magnet_step must lie in \[0, 1\]"):
        solvers.MMDConfig(magnet_step=2.0)
    with pytest.raises(TypeError, match="not both"):
        solvers.OMPO(game, solvers.OMPOConfig(), beta=0.2)
    with pytest.raises(TypeError, match="has no field"):
        solvers.OMPO(game, eta=0.2)
    with pytest.raises(TypeError, match="config must be a OMPOConfig"):
        solvers.OMPO(game, solvers.MPOConfig())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="TabularGame"):
        solvers.OMPO("RockPaperScissors-v0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="initial_policy must have shape"):
        solvers.OMPO(rock_paper_scissors_game(), initial_policy=np.ones((1, 1, 1, 2)) / 2)


def test_ompo_costs_one_contraction_per_update(monkeypatch):
    import solvers.ompo as ompo_module

    calls = []
    original = ompo_module.reward_against_occupancy
    monkeypatch.setattr(
        ompo_module,
        "reward_against_occupancy",
        lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs),
    )
    solver = solvers.OMPO(_game(), beta=1.0)
    for _ in range(5):
        solver.step()
    assert len(calls) == 5  # r^{t−1} is reused, not recomputed


def test_build_config_rejects_wrong_type():
    with pytest.raises(TypeError):
        build_config(solvers.MPOConfig, solvers.OMPOConfig(), {})
