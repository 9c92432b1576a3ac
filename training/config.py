"""The ``ompo-train`` configuration: one TOML file, frozen dataclasses, validated on load.

A config file has one table per section below (``[run]``, ``[model]``, ...); every key is a field
of that section's dataclass, documented under the field. Loading checks every key and value and
raises :class:`ConfigError` naming the key, the value and what is allowed; command-line
overrides ``section.key=value`` (the value in TOML syntax, bare words as strings) go through the
same checks. :func:`dump_toml` writes the resolved config back, so ``RUN/config.toml`` reruns a
run exactly.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import tomllib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "METHODS",
    "ConfigError",
    "EnvConfig",
    "EvaluateConfig",
    "GenerationConfig",
    "LoggingConfig",
    "ModelConfig",
    "OracleConfig",
    "ResumeConfig",
    "RunConfig",
    "SolverConfig",
    "TrainConfig",
    "TrainingConfig",
    "WarmStartConfig",
    "apply_overrides",
    "dump_toml",
    "load_config",
]

#: The paper's LM methods (:mod:`solvers.lm`, mapped in :mod:`training.methods`).
METHODS = ("ompo", "mpo", "sppo", "dpo", "step-dpo")


class ConfigError(ValueError):
    """A config key or value is wrong; the message names the key, the value and what is allowed."""


def _positive(**extra: Any) -> dict[str, Any]:
    return {"min": 0, "exclusive_min": True, **extra}


# ---------------------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class RunConfig:
    """``[run]``: what the run is called, where it goes, how long it is."""

    name: str = ""
    """Run name; default: the config file's stem. Used for the default output folder."""
    out: str = ""
    """Run folder; default ``runs/<name>``. ``--out`` on the command line overrides it."""
    seed: int = field(default=0, metadata={"min": 0})
    """Seed of every random draw (env resets, sampling, data order); same seed, same run."""
    iterations: int = field(default=3, metadata={"min": 1})
    """Number of policy updates T (the paper: 3); the final model is ``RUN/iteration_T``."""


@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: the policy π^1 and how it sits in memory."""

    path: str = ""
    """A local Hugging Face model folder, a hub name (``org/name``; offline it must be in the
    local cache), the path of a ``.gguf`` file (llama.cpp format; converted once into
    ``RUN/base_model``), or ``"tiny"``: a 2-layer Llama and tokenizer built locally (no
    download)."""
    gguf_file: str = ""
    """The name of a GGUF file inside the folder ``path`` (as ``transformers``' ``gguf_file``);
    empty when ``path`` is a model folder, a hub name or the ``.gguf`` file itself."""
    dtype: Literal["float32", "bfloat16", "float16", "float64"] = "float32"
    """Weights dtype for generation and training (``bfloat16`` on GPUs; ``float64`` for
    exactness checks on CPU)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (less memory, ~30 % more compute)."""
    tiny_hidden_size: int = field(default=32, metadata={"min": 4})
    """Width of the ``"tiny"`` model (a multiple of 4)."""
    tiny_layers: int = field(default=2, metadata={"min": 1})
    """Layers of the ``"tiny"`` model."""
    lora: dict[str, Any] = field(default_factory=dict)
    """Train a LoRA adapter per iteration instead of every weight: ``{ r = 8, alpha = 16,
    dropout = 0.0, target_modules = ["q_proj", "v_proj"] }`` (omitted keys take these values;
    empty: full fine-tuning; needs the ``lora`` extra). Each iteration's adapter starts at
    π^{t−1} and is merged into π^t (:mod:`ompo_envs.lm.lora`); ``target_modules`` are names of
    the model's linear layers."""
    lora_save: Literal["merged", "adapter"] = "merged"
    """With ``lora``: save each ``RUN/iteration_t`` merged (a plain Hugging Face folder, as
    without LoRA) or as the adapter alone (peft's ``adapter_config.json`` +
    ``adapter_model.safetensors``, based on ``iteration_{t−1}``; ompo-train and evaluation
    merge the chain when they load it, vLLM generation needs ``"merged"``)."""

    def lora_settings(self) -> Any:
        """The ``lora`` table as :class:`~ompo_envs.lm.lora.LoraSettings` (``None``: no LoRA).

        Raises:
            ConfigError: A key is unknown or a value is not allowed.
        """
        from ompo_envs.lm.lora import LoraSettings

        if not self.lora:
            return None
        keys = [f.name for f in dataclasses.fields(LoraSettings)]
        unknown = [k for k in self.lora if k not in keys]
        if unknown:
            raise ConfigError(
                f"model.lora.{unknown[0]} is not a LoRA setting{_suggest(unknown[0], keys)}; "
                f"the keys of model.lora are {', '.join(keys)}"
            )
        values = dict(self.lora)
        if isinstance(values.get("target_modules"), list):
            values["target_modules"] = tuple(values["target_modules"])
        try:
            return LoraSettings(**values)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"model.lora.{error}") from error


@dataclass(frozen=True)
class WarmStartConfig:
    """``[warm_start]``: optional supervised steps on fixed answers before iteration 1.

    The run's own prompts (first turns of its episodes) paired with ``answers`` (cycled) are
    trained on with the NLL of the answer; the result is ``RUN/iteration_0``. Used by the tiny
    configs to start from a policy biased to one answer.
    """

    answers: tuple[str, ...] = ()
    """Answers to imitate, cycled over the prompts; repeat one to bias the start towards it."""
    steps: int = field(default=0, metadata={"min": 0})
    """Optimiser steps (0: no warm start)."""
    learning_rate: float = field(default=1e-2, metadata=_positive())
    """Learning rate of the warm start (full-batch steps with ``train.optimizer``)."""


@dataclass(frozen=True)
class EnvConfig:
    """``[env]``: the text game and which episodes an iteration plays."""

    id: str = ""
    """A registered text env id, e.g. ``"MTBench101-v0"`` or ``"TextRockPaperScissors-v0"``."""
    options: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of ``ompo_envs.make`` besides the oracle (``tasks``, ``context``,
    ``reward_mode``, ...)."""
    episodes_per_iteration: int = field(default=8, metadata={"min": 1})
    """Root episodes per iteration (initial states s1 ~ ν1, each played to the end): the
    solver's ``num_prompts``. Restrict which s1 can be drawn with the env's own options (e.g.
    ``options = { tasks = ["CM"] }`` for MT-Bench-101)."""


@dataclass(frozen=True)
class OracleConfig:
    """``[oracle]``: the preference model P(a ≻ b | x)."""

    kind: Literal[
        "env-default",
        "pairrm",
        "embedding",
        "pair-lm",
        "reward-model",
        "general-preference",
        "factory",
    ] = "env-default"
    """``env-default`` (the env's own: PairRM for dialogues, the matrix for known-NE games),
    ``pairrm``, ``embedding`` (CPU, offline), ``pair-lm`` (a pair-preference causal LM),
    ``reward-model`` (a Bradley–Terry ``AutoModelForSequenceClassification`` reward model),
    ``general-preference`` (a GPM preference-embedding model folder) or ``factory`` (your own:
    see ``factory``)."""
    path: str = ""
    """Checkpoint folder or hub name for ``pairrm`` / ``pair-lm`` / ``embedding`` /
    ``reward-model``; the local folder for ``general-preference``."""
    factory: str = ""
    """``"module:function"`` returning a ``PreferenceOracle`` (with ``kind = "factory"``)."""
    device: str = "cpu"
    """Torch device of a neural oracle."""
    batch_size: int = field(default=16, metadata={"min": 1})
    """Pairs per oracle call — sequences per forward pass for ``reward-model`` and
    ``general-preference`` (halved on CUDA out-of-memory)."""
    options: dict[str, Any] = field(default_factory=dict)
    """More keyword arguments of the oracle's constructor (or of ``factory``)."""


@dataclass(frozen=True)
class SolverConfig:
    """``[solver]``: the method and its sample sizes (see :mod:`training.methods`)."""

    method: Literal["ompo", "mpo", "sppo", "dpo", "step-dpo"] = "ompo"
    """The LM method of :mod:`solvers.lm`: OMPO (Alg. 2), MPO (Alg. 4), iterative SPPO, iterative
    DPO, Step-DPO."""
    num_answers: int = field(default=5, metadata={"min": 2})
    """K, answers sampled at every state (OMPO, MPO, Step-DPO) or conversations per prompt
    (SPPO, DPO); the paper: 5."""
    beta: float = field(default=0.1, metadata=_positive())
    """β: the regression methods' step size (target β (Q̂ − c)), SPPO's η, DPO's β."""
    estimator: Literal["one_step", "trajectory"] = "one_step"
    """Q̂ of the step-level methods: the one-step win rate among the K answers (the paper on
    MT-Bench) or continuations to the horizon (Eq. 2 / Eq. 4)."""
    options: dict[str, Any] = field(default_factory=dict)
    """More fields of the method's config: ``num_continuations``, ``optimism_source``
    (OMPO), ``label_smoothing`` (DPO, Step-DPO)."""


@dataclass(frozen=True)
class GenerationConfig:
    """``[generation]``: how answers are sampled from π^t."""

    backend: Literal["transformers", "vllm"] = "transformers"
    """``transformers`` (the policy's own weights, any device) or ``vllm`` (GPU only, the
    ``vllm`` extra: the generate stage serves π^{t−1}'s folder with vLLM). A backend this
    install cannot run is refused before the run folder is touched."""
    vllm_options: dict[str, Any] = field(default_factory=dict)
    """More keyword arguments of ``vllm.LLM`` with ``backend = "vllm"`` (e.g.
    ``gpu_memory_utilization = 0.4``, ``tensor_parallel_size = 2``)."""
    temperature: float = field(default=1.0, metadata=_positive())
    """Sampling temperature."""
    top_p: float = field(default=1.0, metadata=_positive(max=1.0))
    """Nucleus sampling mass, in (0, 1]."""
    max_new_tokens: int = field(default=64, metadata={"min": 1})
    """Longest answer, in tokens."""
    batch_size: int = field(default=16, metadata={"min": 1})
    """Prompts per ``generate`` call (halved on CUDA out-of-memory)."""


@dataclass(frozen=True)
class TrainConfig:
    """``[train]``: the optimiser of one iteration (a fresh optimiser each iteration)."""

    learning_rate: float = field(default=5e-7, metadata=_positive())
    """Peak learning rate."""
    epochs: int = field(default=1, metadata={"min": 1})
    """Passes over the iteration's data."""
    batch_size: int = field(default=4, metadata={"min": 1})
    """Examples per forward pass, per process."""
    gradient_accumulation_steps: int = field(default=1, metadata={"min": 1})
    """Forward passes per optimiser step, per process; the global batch is
    ``batch_size × gradient_accumulation_steps × processes``."""
    lr_schedule: Literal["constant", "linear", "cosine"] = "linear"
    """Decay after warm-up: constant, linear to 0, or cosine to 0."""
    warmup_steps: int = field(default=0, metadata={"min": 0})
    """Optimiser steps of linear warm-up from 0."""
    max_grad_norm: float = field(default=1.0, metadata={"min": 0})
    """Clip the global gradient norm to this (0: no clipping)."""
    weight_decay: float = field(default=0.0, metadata={"min": 0})
    """AdamW decoupled weight decay."""
    optimizer: Literal["adamw", "sgd"] = "adamw"
    """Optimiser (``sgd`` has no state: handy for exactness tests)."""
    logprob_batch_size: int = field(default=16, metadata={"min": 1})
    """Sequences per forward pass when scoring log-probs of π^t (halved on out-of-memory)."""


@dataclass(frozen=True)
class ResumeConfig:
    """``[resume]``: how often a stage saves its progress (what a kill can lose at most)."""

    episodes_per_chunk: int = field(default=8, metadata={"min": 1})
    """Episodes generated per saved chunk."""
    rows_per_chunk: int = field(default=64, metadata={"min": 1})
    """States judged or scored per saved chunk."""
    checkpoint_every: int = field(default=50, metadata={"min": 1})
    """Optimiser steps between training checkpoints (weights, optimiser, scheduler, RNG)."""


@dataclass(frozen=True)
class LoggingConfig:
    """``[logging]``: what the user sees."""

    progress: bool = True
    """tqdm bars per stage with rates (rollouts/s, oracle pairs/s, tokens/s, loss)."""
    trackers: tuple[Literal["tensorboard", "wandb", "trackio"], ...] = ()
    """Experiment trackers that receive every optimiser step's and every iteration's metrics
    (:mod:`training.trackers`): ``"tensorboard"`` (``RUN/tensorboard``), ``"wandb"`` (Weights &
    Biases, files in ``RUN/wandb``; ``WANDB_MODE=offline`` logs without network),
    ``"trackio"`` (a local SQLite database under ``TRACKIO_DIR``)."""
    tensorboard: bool = False
    """Same as adding ``"tensorboard"`` to ``trackers`` (kept so older configs read the same)."""
    project: str = "ompo-train"
    """The trackers' project (W&B / trackio project; TensorBoard ignores it)."""
    run_name: str = ""
    """The trackers' run name (default: ``run.name``)."""

    @property
    def active_trackers(self) -> tuple[str, ...]:
        """``trackers`` with ``"tensorboard"`` added when ``tensorboard = true``, in order."""
        extra = ("tensorboard",) if self.tensorboard else ()
        return tuple(dict.fromkeys((*self.trackers, *extra)))


@dataclass(frozen=True)
class EvaluateConfig:
    """``[evaluate]``: measurements after each iteration."""

    exploitability_episodes: int = field(default=0, metadata={"min": 0})
    """Self-play episodes of π^t for its exploitability in a known-equilibrium text game
    (``TextRockPaperScissors-v0``, ``TextVoters-v0``, lifted tabular games), estimated from its
    induced class policy with a bootstrap standard error (0: off; other games: ignored)."""


@dataclass(frozen=True)
class TrainingConfig:
    """A whole ``ompo-train`` config: one field per TOML table."""

    run: RunConfig = field(default_factory=RunConfig)
    """``[run]``."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """``[model]``."""
    warm_start: WarmStartConfig = field(default_factory=WarmStartConfig)
    """``[warm_start]``."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """``[env]``."""
    oracle: OracleConfig = field(default_factory=OracleConfig)
    """``[oracle]``."""
    solver: SolverConfig = field(default_factory=SolverConfig)
    """``[solver]``."""
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    """``[generation]``."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """``[train]``."""
    resume: ResumeConfig = field(default_factory=ResumeConfig)
    """``[resume]``."""
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    """``[logging]``."""
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    """``[evaluate]``."""

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Return the config as ``{section: {key: value}}`` with lists for tuples."""
        return {
            f.name: {k: _plain(v) for k, v in dataclasses.asdict(getattr(self, f.name)).items()}
            for f in dataclasses.fields(self)
        }


# ---------------------------------------------------------------------------------------- loading
def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> TrainingConfig:
    """Read a TOML config, apply ``section.key=value`` overrides, validate, and return it.

    Raises:
        ConfigError: The file is missing or not TOML, or a key or value is not allowed.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read the config file {str(source)!r}: {error}") from error
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source} is not valid TOML: {error}") from error
    raw = apply_overrides(raw, overrides)
    run = raw.setdefault("run", {})
    if isinstance(run, dict) and not run.get("name"):
        run["name"] = source.stem
    return from_dict(raw, where=str(source))


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``section.key=value`` override set.

    The value is read as a TOML value (``3``, ``1e-5``, ``true``, ``["a", "b"]``,
    ``{task = "SC"}``); anything that is not TOML is taken as a string.

    Raises:
        ConfigError: An override is not of the form ``section.key=value``.
    """
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in raw.items()}
    for item in overrides:
        key, sep, text = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not section or not name:
            raise ConfigError(
                f"override {item!r} must look like section.key=value, e.g. train.learning_rate=1e-5"
            )
        try:
            value = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            value = text
        table = out.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{section}] must be a table, got {table!r}")
        table[name] = value
    return out


def from_dict(raw: Mapping[str, Any], *, where: str = "config") -> TrainingConfig:
    """Build and validate a :class:`TrainingConfig` from ``{section: {key: value}}``.

    Raises:
        ConfigError: Unknown section or key, wrong type, out-of-range or inconsistent value.
    """
    sections = {f.name: f for f in dataclasses.fields(TrainingConfig)}
    hints = typing.get_type_hints(TrainingConfig)
    built: dict[str, Any] = {}
    for name, table in raw.items():
        if name not in sections:
            raise ConfigError(
                f"{where}: unknown section [{name}]{_suggest(name, sections)}; the sections are "
                f"{', '.join(f'[{s}]' for s in sections)}"
            )
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: [{name}] must be a table of keys, got {table!r}")
        built[name] = _build_section(hints[name], name, table, where)
    config = TrainingConfig(**built)
    _check_consistency(config, where)
    return config


def _build_section(cls: type, section: str, table: Mapping[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(
                f"{where}: unknown key {section}.{key}{_suggest(key, fields)}; the keys of "
                f"[{section}] are {', '.join(fields)}"
            )
        values[key] = _check_value(
            f"{section}.{key}", value, hints[key], fields[key].metadata, where
        )
    return cls(**values)


def _check_value(key: str, value: Any, hint: Any, meta: Mapping[str, Any], where: str) -> Any:
    def fail(allowed: str) -> ConfigError:
        return ConfigError(f"{where}: {key} = {value!r} is not allowed: expected {allowed}")

    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise fail(f"one of {', '.join(repr(c) for c in choices)}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(f"an integer{_range_text(meta)}")
        _check_range(value, meta, fail, "an integer")
        return value
    if hint is float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise fail(f"a finite number{_range_text(meta)}")
        _check_range(value, meta, fail, "a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise fail("a string (in quotes)")
        return value
    if origin is tuple:
        item_hint = typing.get_args(hint)[0]
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise fail("a list, e.g. [...]")
        return tuple(
            _check_value(f"{key}[{i}]", item, item_hint, {}, where) for i, item in enumerate(value)
        )
    if origin is dict:
        if not isinstance(value, Mapping):
            raise fail("a table, e.g. {name = value}")
        return dict(value)
    raise TypeError(f"unsupported config field type {hint!r} for {key}")  # a bug in this module


def _range_text(meta: Mapping[str, Any]) -> str:
    parts = []
    if "min" in meta:
        parts.append(f"{'>' if meta.get('exclusive_min') else '>='} {meta['min']}")
    if "max" in meta:
        parts.append(f"<= {meta['max']}")
    return f" {' and '.join(parts)}" if parts else ""


def _check_range(value: float, meta: Mapping[str, Any], fail: Any, kind: str) -> None:
    low, high = meta.get("min"), meta.get("max")
    below = low is not None and (value < low or (meta.get("exclusive_min") and value == low))
    if below or (high is not None and value > high):
        raise fail(f"{kind}{_range_text(meta)}")


#: Names that users of Hugging Face's TrainingArguments / TRL write, and ours.
_ALIASES = {
    "lr": "learning_rate",
    "num_train_epochs": "epochs",
    "per_device_train_batch_size": "batch_size",
    "lr_scheduler_type": "lr_schedule",
    "optim": "optimizer",
    "model_name_or_path": "path",
    "torch_dtype": "dtype",
    "max_length": "max_new_tokens",
    "save_steps": "checkpoint_every",
}


def _suggest(name: str, known: Mapping[str, Any]) -> str:
    if _ALIASES.get(name) in known:
        return f" (did you mean {_ALIASES[name]!r}?)"
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_consistency(config: TrainingConfig, where: str) -> None:
    """Checks across keys: required keys, and keys that only make sense together."""
    if not config.model.path:
        raise ConfigError(
            f"{where}: model.path is required: a local model folder, a hub name, a .gguf "
            'file, or "tiny"'
        )
    if config.model.path == "tiny" and config.model.gguf_file:
        raise ConfigError(
            f"{where}: model.gguf_file = {config.model.gguf_file!r} is not allowed with "
            'model.path = "tiny": give the folder that holds the GGUF file as model.path'
        )
    if config.model.path == "tiny" and config.model.tiny_hidden_size % 4:
        raise ConfigError(
            f"{where}: model.tiny_hidden_size = {config.model.tiny_hidden_size} is not allowed: "
            "expected a multiple of 4 (the tiny model has 4 heads)"
        )
    try:
        lora = config.model.lora_settings()
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from error
    if lora is None and config.model.lora_save != "merged":
        raise ConfigError(
            f"{where}: model.lora_save = {config.model.lora_save!r} needs model.lora (an "
            "adapter to save)"
        )
    if config.model.lora_save == "adapter" and config.generation.backend == "vllm":
        raise ConfigError(
            f"{where}: model.lora_save = 'adapter' is not allowed with generation.backend = "
            "'vllm' (vLLM serves a plain model folder): use model.lora_save = 'merged'"
        )
    if not config.env.id:
        raise ConfigError(f'{where}: env.id is required, e.g. "MTBench101-v0"')
    if "oracle" in config.env.options:
        raise ConfigError(f"{where}: env.options.oracle is not allowed: configure [oracle]")
    if config.oracle.kind == "factory" and ":" not in config.oracle.factory:
        raise ConfigError(
            f"{where}: oracle.factory = {config.oracle.factory!r} is not allowed with "
            'oracle.kind = "factory": expected "module:function"'
        )
    if (
        config.oracle.kind in ("pairrm", "pair-lm", "reward-model", "general-preference")
        and not config.oracle.path
    ):
        raise ConfigError(
            f"{where}: oracle.path is required with oracle.kind = {config.oracle.kind!r} "
            "(a checkpoint folder or hub name)"
        )
    if config.logging.active_trackers and not config.logging.project.strip():
        raise ConfigError(
            f"{where}: logging.project = {config.logging.project!r} is not allowed with "
            f"trackers {list(config.logging.active_trackers)}: give a project name"
        )
    if config.warm_start.steps and not config.warm_start.answers:
        raise ConfigError(
            f"{where}: warm_start.steps = {config.warm_start.steps} needs warm_start.answers"
        )


# ---------------------------------------------------------------------------------------- writing
def dump_toml(config: TrainingConfig) -> str:
    """Return ``config`` as TOML text that :func:`load_config` reads back to an equal config."""
    lines = []
    for section, table in config.to_dict().items():
        lines.append(f"[{section}]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items())
        lines.append("")
    return "\n".join(lines)


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as TOML")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value
