"""``ompo-train``: the paper's LLM runs as one command, resumable, from a laptop to many GPUs.

* :mod:`training.config` — the TOML config (frozen dataclasses, validated on load).
* :mod:`training.runner` — iterations of resumable stages in a run folder.
* :mod:`training.cli` — the ``ompo-train`` command.
"""

from __future__ import annotations

from training.config import ConfigError, TrainingConfig, load_config

__all__ = ["ConfigError", "TrainingConfig", "load_config"]
