"""Build the ``[oracle]`` of a config: PairRM, embedding, pair-LM, reward-model, GPM or yours."""

from __future__ import annotations

import importlib
from typing import Any

from ompo_envs.oracles.base import PreferenceOracle
from training.config import ConfigError, OracleConfig

__all__ = ["build_oracle"]


def build_oracle(config: OracleConfig) -> PreferenceOracle | None:
    """Return the configured oracle, or None for ``kind = "env-default"`` (the env builds its own).

    Raises:
        ConfigError: The oracle cannot be built; the message names the key.
    """
    kind, options = config.kind, dict(config.options)
    if kind in ("pairrm", "embedding", "pair-lm", "reward-model", "general-preference"):
        from ompo_envs.lm.policy import check_device_available

        try:
            check_device_available(config.device)
        except ValueError as error:
            raise ConfigError(f"oracle.device = {config.device!r}: {error}") from error
    try:
        if kind == "env-default":
            return None
        if kind == "pairrm":
            from ompo_envs.oracles import PairRM

            return PairRM.from_pretrained(
                config.path, device=config.device, batch_size=config.batch_size, **options
            )
        if kind == "embedding":
            from ompo_envs.oracles import EmbeddingOracle

            return EmbeddingOracle(
                config.path or None,
                device=config.device,
                batch_size=config.batch_size,
                **options,
            )
        if kind == "pair-lm":
            from ompo_envs.oracles import PairPreferenceLM

            return PairPreferenceLM.from_pretrained(
                config.path, device=config.device, batch_size=config.batch_size, **options
            )
        if kind == "reward-model":
            from ompo_envs.oracles import RewardModelOracle

            return RewardModelOracle.from_pretrained(
                config.path, device=config.device, batch_size=config.batch_size, **options
            )
        if kind == "general-preference":
            from ompo_envs.oracles import GeneralPreferenceOracle

            return GeneralPreferenceOracle.from_pretrained(
                config.path, device=config.device, batch_size=config.batch_size, **options
            )
        return _from_factory(config.factory, options)
    except ConfigError:
        raise
    except (ImportError, OSError, TypeError, ValueError, RuntimeError) as error:
        raise ConfigError(
            f"oracle.kind = {kind!r} could not be built: {type(error).__name__}: {error}"
        ) from error


def _from_factory(factory: str, options: dict[str, Any]) -> PreferenceOracle:
    module_name, _, attribute = factory.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigError(
            f"oracle.factory = {factory!r} cannot be imported ({error}); give module:function "
            "of an importable module"
        ) from error
    oracle = function(**options)
    if not isinstance(oracle, PreferenceOracle):
        raise ConfigError(
            f"oracle.factory = {factory!r} returned a {type(oracle).__name__}, not a "
            "ompo_envs.oracles.PreferenceOracle"
        )
    return oracle
