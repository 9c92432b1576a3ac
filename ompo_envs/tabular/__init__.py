"""Tabular alignment games with an exact model: occupancies, values, best response, equilibria."""

from ompo_envs.tabular.evaluation import (
    BestResponse,
    OccupancyAverage,
    backward_recursion,
    best_response,
    contraction_rounding_bound,
    exploitability,
    exploitability_from_occupancy,
    mixture_policy,
    occupancy_measures,
    optimal_q_values,
    optimal_value,
    pair_value,
    policy_table,
    q_values,
    regularised_value,
    reward_against,
    reward_against_occupancy,
    soft_value,
    standard_value,
)
from ompo_envs.tabular.game import TabularGame
from ompo_envs.tabular.generators import random_game
from ompo_envs.tabular.nash import NashEquilibrium, nash_equilibrium
from ompo_envs.tabular.policies import (
    TabularPolicy,
    check_policy,
    policy_from_occupancy,
    random_policy,
    uniform_policy,
)

__all__ = [
    "BestResponse",
    "NashEquilibrium",
    "OccupancyAverage",
    "TabularGame",
    "TabularPolicy",
    "backward_recursion",
    "best_response",
    "check_policy",
    "contraction_rounding_bound",
    "exploitability",
    "exploitability_from_occupancy",
    "mixture_policy",
    "nash_equilibrium",
    "occupancy_measures",
    "optimal_q_values",
    "optimal_value",
    "pair_value",
    "policy_from_occupancy",
    "policy_table",
    "q_values",
    "random_game",
    "random_policy",
    "regularised_value",
    "reward_against",
    "reward_against_occupancy",
    "soft_value",
    "standard_value",
    "uniform_policy",
]
