"""Wrappers: single-agent Gymnasium views of the two-player preference games."""

from ompo_envs.wrappers.single_agent import SingleAgentEnv

__all__ = ["SingleAgentEnv"]
