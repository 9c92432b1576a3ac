"""Tabular alignment games with an exact model: occupancies, values, best response, equilibria."""

from ompo_envs.tabular.evaluation import (
    BestResponse,
    best_response,
    exploitability,
    occupancy_measures,
    optimal_q_values,
    pair_value,
    q_values,
    reward_against,
    reward_against_occupancy,
)
from ompo_envs.tabular.game import TabularGame
from ompo_envs.tabular.generators import random_game
from ompo_envs.tabular.nash import NashEquilibrium, nash_equilibrium
from ompo_envs.tabular.policies import (
    check_policy,
    mixture_policy,
    policy_from_occupancy,
    random_policy,
    uniform_policy,
)

__all__ = [
    "BestResponse",
    "NashEquilibrium",
    "TabularGame",
    "best_response",
    "check_policy",
    "exploitability",
    "mixture_policy",
    "nash_equilibrium",
    "occupancy_measures",
    "optimal_q_values",
    "pair_value",
    "policy_from_occupancy",
    "q_values",
    "random_game",
    "random_policy",
    "reward_against",
    "reward_against_occupancy",
    "uniform_policy",
]
