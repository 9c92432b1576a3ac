"""The common part of the LM solvers: one iteration as separable stages, timing, evaluation.

Every LM solver is one more solver of the package's protocol::

    solver = LMOMPO(env, LMOMPOConfig(beta=1.0), policy=LMPolicy.from_pretrained(path))
    for _ in range(3):
        metrics = solver.step()     # one iteration π^t → π^{t+1}; a dict of floats
    solver.policy                   # π^t, an LMPolicy (trained in place)
    solver.evaluate()               # exploitability in a known-equilibrium text game

One iteration is five stages with plain data between them, so each can be run, persisted and
resumed on its own (``step()`` runs them in order)::

    rollouts = solver.generate()            # env rollouts + K answers/conversations (π^t)
    records = solver.judge(rollouts)        # oracle comparisons → Regression/PairRecords
    records = solver.score(records)         # log π^t of every response, stored in the records
    metrics = solver.train(records)         # the optimiser stage (the model is changed in place)
    solver.finish_iteration(metrics)        # iteration counter, snapshots, checkpoint

Metrics split the iteration's wall time into ``time_generation`` (sampling answers),
``time_oracle`` (env steps: the preference oracle and the env's bookkeeping), ``time_scoring``
(log-prob passes without gradients), ``time_optimizer`` (forward/backward/step) and
``time_rest`` (everything else: grouping, records, Python overhead).
"""

from __future__ import annotations

import abc
import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from ompo_envs.lm.lora import (
    AdapterSnapshot,
    LoraSettings,
    adapter_snapshot,
    attach_adapter,
    merge_adapter,
    save_adapter,
)
from ompo_envs.lm.training import OptimizerConfig, make_optimizer, make_scheduler, optimize
from ompo_envs.policies import MixturePolicy
from ompo_envs.text.base import TextPreferenceGameEnv
from ompo_envs.text.batch import TextEnvBatch
from solvers._common import build_config, check_positive
from solvers.lm.losses import dpo_loss, regression_loss
from solvers.lm.records import (
    PairRecord,
    Record,
    RegressionRecord,
    response_logprobs,
    score_records,
)
from solvers.lm.rollouts import ComparisonPool, RecordingPolicy, StageClock
from solvers.sampled.estimation import BranchingSampler

__all__ = ["LMSolver", "LMSolverConfig"]

TIME_STAGES = ("generation", "oracle", "scoring", "optimizer")


@dataclass(frozen=True)
class LMSolverConfig:
    """Settings every LM solver shares."""

    beta: float = 0.1
    """β > 0: the step size of the regression methods (target β (Q̂ − c)), SPPO's η, DPO's β."""

    num_prompts: int = 16
    """Root episodes per iteration (initial states s1 ~ ν1)."""

    num_samples: int = 5
    """K ≥ 2: answers per state (step-level methods) or conversations per prompt (SPPO, DPO)."""

    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    """Optimiser, epochs, batch size, accumulation, schedule, clipping, dtype of the train stage."""

    eval_episodes: int = 256
    """Self-play episodes of :meth:`LMSolver.evaluate` (two trajectories each)."""

    keep_iterates: bool = False
    """Keep a frozen copy of every iterate, for :attr:`LMSolver.average_policy` (memory: T
    models)."""

    checkpoint_dir: str | None = None
    """If set, π^{t+1} is saved to ``checkpoint_dir/iteration_{t+1}`` after every iteration."""

    lora: LoraSettings | None = None
    """Train a LoRA adapter per iteration instead of every weight (``None``: full fine-tuning).
    Iteration t attaches a fresh adapter to π^t (B = 0, so it starts at π^t), trains only the
    adapter, and merges it: π^{t+1} = π^t with W ← W + (α/r) B A (:mod:`ompo_envs.lm.lora`). The
    reference log π^t of the losses is the base model's — the adapter disabled — computed by
    :meth:`LMSolver.score` before the adapter exists and stored in the records."""

    lora_save: Literal["merged", "adapter"] = "merged"
    """With ``lora`` and ``checkpoint_dir``: save π^{t+1} merged (a plain Hugging Face folder) or
    as the adapter alone, whose base is ``iteration_t`` (π^1 is then saved to ``iteration_0``);
    :meth:`~ompo_envs.lm.LMPolicy.from_pretrained` loads either to the same policy."""

    seed: int = 0
    """Seed of the solver's generator (env seeds and every sample)."""

    def __post_init__(self) -> None:
        check_positive("beta", self.beta)
        for name in ("num_prompts", "eval_episodes"):
            _check_count(name, getattr(self, name), 1)
        _check_count("num_samples", self.num_samples, 2)
        _check_count("seed", self.seed, 0)
        if not isinstance(self.optimizer, OptimizerConfig):
            raise TypeError(
                f"optimizer must be an OptimizerConfig, got {type(self.optimizer).__name__}"
            )
        if not isinstance(self.keep_iterates, bool):
            raise TypeError(f"keep_iterates must be a bool, got {self.keep_iterates!r}")
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, str):
            raise TypeError(
                f"checkpoint_dir must be a string path or None, got {self.checkpoint_dir!r}"
            )
        if self.lora is not None and not isinstance(self.lora, LoraSettings):
            raise TypeError(
                "lora must be an ompo_envs.lm.lora.LoraSettings or None, got "
                f"{type(self.lora).__name__}"
            )
        if self.lora_save not in ("merged", "adapter"):
            raise ValueError(f"lora_save must be 'merged' or 'adapter', got {self.lora_save!r}")


def _check_count(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


class LMSolver(abc.ABC):
    """Base class of the LM solvers (OMPO, MPO, Step-DPO, SPPO, DPO); see the module docstring.

    Args:
        env: A text env (``ompo_envs.make("TextRockPaperScissors-v0")``, an MT-Bench-101 or
            reasoning env, a lifted tabular game); used as a template, never stepped itself.
        config: The settings (an instance of ``config_class``), or give its fields as keywords.
        policy: π^1, an :class:`~ompo_envs.lm.LMPolicy`; it is trained in place.

    Raises:
        TypeError: ``env`` is not a text env, or ``policy`` cannot generate and score answers.
    """

    config_class: ClassVar[type[LMSolverConfig]] = LMSolverConfig
    config: LMSolverConfig

    def __init__(
        self, env: Any, config: LMSolverConfig | None = None, *, policy: Any, **fields: Any
    ) -> None:
        self.config = build_config(self.config_class, config, fields)
        unwrapped = getattr(env, "unwrapped", env)
        if not isinstance(unwrapped, TextPreferenceGameEnv):
            raise TypeError(
                "LM solvers train in text envs (answers are strings), got "
                f"{type(unwrapped).__name__}; use a text env such as "
                "ompo_envs.make('TextRockPaperScissors-v0'), or a tabular solver "
                "(solvers.OMPO, solvers.SampledOMPO) for tabular games"
            )
        for method in ("log_probs", "sample_batch", "copy"):
            if not callable(getattr(policy, method, None)):
                raise TypeError(
                    f"policy must be an LMPolicy (it needs {method}()), got {type(policy).__name__}"
                )
        self.env: TextPreferenceGameEnv = unwrapped
        self._policy = policy
        self.rng = np.random.default_rng(self.config.seed)
        self._eval_rng = np.random.default_rng([self.config.seed, 1])
        self.clock = StageClock()
        self.sampler = BranchingSampler(unwrapped, self.rng)
        self.comparisons = ComparisonPool(unwrapped, self.clock)
        self.iteration = 0
        self._iterates: list[Any] = [policy.copy()] if self.config.keep_iterates else []
        self._eval_envs: TextEnvBatch | None = None
        self._iteration_start = time.perf_counter()
        self._adapter: AdapterSnapshot | None = None
        #: Metrics the stages of the running iteration report (merged into ``step()``'s).
        self.stage_metrics: dict[str, float] = {}

    # ------------------------------------------------------------------ the protocol
    @property
    def policy(self) -> Any:
        """The current iterate π^t (the LMPolicy being trained)."""
        return self._policy

    @property
    def average_policy(self) -> MixturePolicy:
        """The trajectory-level mixture of π^1..π^t (one iterate per episode).

        Raises:
            RuntimeError: The solver was built with ``keep_iterates=False`` (the default: keeping
                T copies of a large model is rarely affordable).
        """
        if not self.config.keep_iterates:
            raise RuntimeError(
                "the average policy needs every iterate: build the solver with keep_iterates=True "
                "(it keeps a frozen copy of each iterate in memory)"
            )
        return MixturePolicy(self._iterates)

    def step(self) -> dict[str, float]:
        """Run one iteration π^t → π^{t+1} (all five stages); return its metrics."""
        self.start_iteration()
        rollouts = self.generate()
        records = self.judge(rollouts)
        records = self.score(records)
        metrics = self.train(records)
        return self.finish_iteration(metrics)

    def evaluate(self) -> dict[str, float]:
        """Exploitability of π^t (and of the average, if kept) in a known-equilibrium text game.

        Estimated from ``eval_episodes`` self-play episodes through the exact tabular evaluator
        (:func:`~ompo_envs.text.induced.estimate_exploitability`); ``*_stderr`` is its bootstrap
        standard error. Returns ``{}`` in games without a known class game (MT-Bench, math).
        """
        from ompo_envs.text.induced import class_game_of, estimate_exploitability

        try:
            class_game_of(self.env)
        except TypeError:
            return {}
        episodes = self.config.eval_episodes
        if self._eval_envs is None:
            self._eval_envs = TextEnvBatch.from_env(self.env, episodes)
        out = {}
        policies = {"last": self._policy}
        if self.config.keep_iterates:
            policies["average"] = self.average_policy
        for name, policy in policies.items():
            estimate = estimate_exploitability(
                self.env, policy, num_episodes=episodes, rng=self._eval_rng, envs=self._eval_envs
            )
            out[f"exploitability_{name}"] = estimate.value
            out[f"exploitability_{name}_stderr"] = estimate.stderr
            out[f"unrecognised_rate_{name}"] = estimate.unrecognised_rate
        return out

    # ------------------------------------------------------------------ the stages
    def start_iteration(self) -> None:
        """Reset the stage clock (``step`` calls it; call it when running stages by hand)."""
        self.clock.seconds.clear()
        self.comparisons.num_queries = 0
        self.stage_metrics = {}
        self._iteration_start = time.perf_counter()

    @abc.abstractmethod
    def generate(
        self, roots: Sequence[int] | None = None, *, rng: np.random.Generator | None = None
    ) -> Any:
        """Stage 1: roll out π^t through the env API; return the rollouts.

        Args:
            roots: Which root episodes to play (indices in 0..num_prompts−1; default all). A
                runner that shards or resumes generation plays a subset per call and joins the
                parts with the rollouts' ``concatenate``.
            rng: Draw this call's samples from ``rng`` (:meth:`random_source`) instead of the
                solver's own stream, so a part is the same whenever and wherever it is redone.
        """

    @contextlib.contextmanager
    def random_source(self, rng: np.random.Generator | None) -> Iterator[None]:
        """Draw every sample inside the block (env seeds, answers, continuations) from ``rng``.

        The solver's own generator is untouched and used again after the block; ``None`` keeps
        it inside the block too. A resumable runner wraps each stage in a generator derived from
        the stage's position (``with solver.random_source(rng): solver.judge(rollouts)``).

        Raises:
            TypeError: ``rng`` is not a ``numpy.random.Generator``.
        """
        if rng is None:
            yield
            return
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy Generator or None, got {type(rng).__name__}")
        saved = self.rng, self.sampler
        self.rng, self.sampler = rng, BranchingSampler(self.env, rng)
        try:
            yield
        finally:
            self.rng, self.sampler = saved

    def _root_indices(self, roots: Sequence[int] | None) -> list[int]:
        """``roots`` checked against ``num_prompts`` (default: every root)."""
        n = self.config.num_prompts
        if roots is None:
            return list(range(n))
        out = list(roots)
        bad = [r for r in out if isinstance(r, bool) or not isinstance(r, int | np.integer)]
        bad += [r for r in out if r not in bad and not 0 <= r < n]
        if bad or len(set(out)) != len(out):
            raise ValueError(
                f"roots must be distinct integers in 0..{n - 1} (num_prompts = {n}), got {out}"
            )
        return [int(r) for r in out]

    @abc.abstractmethod
    def judge(self, rollouts: Any) -> list[Record]:
        """Stage 2: compare through the env (the oracle); return the training records."""

    def score(self, records: Sequence[Record]) -> list[Record]:
        """Stage 3: store log π^t of every response in the records (one pass, no gradients)."""
        start = time.perf_counter()
        scored = score_records(self._policy, records)
        self.clock.add("scoring", time.perf_counter() - start)
        return scored

    def train(self, records: Sequence[Record]) -> dict[str, float]:
        """Stage 4: fit π^{t+1} on the records with a fresh optimiser; return its metrics.

        Raises:
            ValueError: A record has no stored log π^t (run :meth:`score` first).
            NonFiniteLossError: A loss became NaN/inf (no step taken for it).
        """
        start = time.perf_counter()
        records = list(records)
        if any(_missing_reference(r) for r in records):
            raise ValueError("every record needs its log π^t: run solver.score(records) first")
        metrics: dict[str, float] = {"records": float(len(records))}
        self._adapter = None
        if records:
            config = self.config.optimizer
            model = self._policy.model
            lora = self.config.lora
            if lora is not None:
                self._save_start()
                model = attach_adapter(model, lora, seed=self._adapter_seed())
            optimizer = make_optimizer(model.parameters(), config)
            scheduler = make_scheduler(optimizer, config, config.num_steps(len(records)))
            try:
                metrics.update(
                    optimize(
                        records,
                        self.loss,
                        optimizer,
                        scheduler,
                        config,
                        parameters=model.parameters(),
                        weights=[r.weight for r in records],
                        device=self._policy.device,
                    )
                )
            finally:
                if lora is not None:
                    self._adapter = adapter_snapshot(model)
                    merge_adapter(model)  # in place: the policy's model is π^{t+1}, plain
        self.clock.add("optimizer", time.perf_counter() - start)
        return metrics

    def finish_iteration(self, metrics: dict[str, float]) -> dict[str, float]:
        """Stage 5: count the iteration, keep/save π^{t+1}; return the metrics with timings."""
        self.iteration += 1
        self._commit()
        if self.config.keep_iterates:
            self._iterates.append(self._policy.copy())
        if self.config.checkpoint_dir is not None:
            folder = Path(self.config.checkpoint_dir) / f"iteration_{self.iteration}"
            if self._saves_adapters() and self._adapter is not None:
                base = Path(self.config.checkpoint_dir) / f"iteration_{self.iteration - 1}"
                save_adapter(self._adapter, folder, base=str(base.resolve()))
                self._policy.tokenizer.save_pretrained(folder)
            else:
                self._policy.save(folder)
        total = time.perf_counter() - self._iteration_start
        timings = {f"time_{name}": float(self.clock.seconds[name]) for name in TIME_STAGES}
        timings["time_rest"] = max(0.0, total - sum(timings.values()))
        timings["time_total"] = total
        return {
            "iteration": float(self.iteration),
            "preference_queries": float(self.comparisons.num_queries),
            **self.stage_metrics,
            **metrics,
            **timings,
        }

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Return what carries the run to another process, as JSON-ready data.

        The iteration counter, the states of the solver's generators and whatever an iteration
        hands to the next (OMPO: the answers π^{t−1} gave, :meth:`LMOMPO.state_dict`). The policy
        is not in it (save it with ``policy.save``). A resumed solver continues the generator
        where it stood, but its env copies are new (creating them draws seeds), so its samples
        equal an uninterrupted solver's only in stages run under :meth:`random_source`, as a
        resumable runner runs them.
        """
        return {
            "iteration": self.iteration,
            "rng": self.rng.bit_generator.state,
            "eval_rng": self._eval_rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s output (into a solver built with the same config).

        Raises:
            ValueError: ``state`` is not such a dict (a key is missing or of the wrong kind).
        """
        try:
            iteration = state["iteration"]
            if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
                raise ValueError(f"iteration must be an integer >= 0, got {iteration!r}")
            rng, eval_rng = np.random.default_rng(), np.random.default_rng()
            rng.bit_generator.state = state["rng"]
            eval_rng.bit_generator.state = state["eval_rng"]
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"not a state of {type(self).__name__} (from state_dict()): {error!r}"
            ) from error
        self.iteration = iteration
        self.rng.bit_generator.state = rng.bit_generator.state
        self._eval_rng.bit_generator.state = eval_rng.bit_generator.state

    # ------------------------------------------------------------------ helpers
    def _saves_adapters(self) -> bool:
        return (
            self.config.lora is not None
            and self.config.lora_save == "adapter"
            and self.config.checkpoint_dir is not None
        )

    def _save_start(self) -> None:
        """Adapter saves need a plain root: π^1 goes to ``checkpoint_dir/iteration_0``."""
        if self._saves_adapters() and self.iteration == 0:
            self._policy.save(Path(self.config.checkpoint_dir) / "iteration_0")

    def _adapter_seed(self) -> int:
        """The seed of iteration t's adapter initialisation (from the solver seed and t)."""
        return int(
            np.random.SeedSequence([self.config.seed, 2, self.iteration]).generate_state(1)[0]
        )

    def _commit(self) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Make what the judge stage prepared for the next iteration current (default: nothing)."""

    def _recording(self, policy: Any) -> RecordingPolicy:
        return RecordingPolicy(policy, self.clock)

    def loss(self, records: Sequence[Record], *, model: Any = None) -> Any:
        """Return the method's loss of each record, a tensor of shape (len(records),).

        The squared log-ratio regression of a :class:`RegressionRecord`, the DPO loss of a
        :class:`PairRecord` (:mod:`solvers.lm.losses`), from log π^t stored in the records
        (:meth:`score`). Unweighted: a runner takes the weighted mean (``record.weight``), as
        :meth:`train` does. Differentiable under grad mode.

        Args:
            records: Scored records, all of one kind (a batch of one method's records).
            model: Run the forward pass through this module instead of the policy's own: the
                same module wrapped for distributed training (DDP, FSDP, DeepSpeed).
        """
        import torch

        batch = list(records)
        if isinstance(batch[0], RegressionRecord):
            logp = response_logprobs(self._policy, [r.response for r in batch], model=model)
            ref = torch.tensor([r.ref_logprob for r in batch], dtype=logp.dtype, device=logp.device)
            target = torch.tensor([r.target for r in batch], dtype=logp.dtype, device=logp.device)
            return regression_loss(logp, ref, target)
        pairs = [r for r in batch if isinstance(r, PairRecord)]
        logp = response_logprobs(
            self._policy, [r.chosen for r in pairs] + [r.rejected for r in pairs], model=model
        )
        n = len(pairs)
        ref = torch.tensor(
            [r.ref_chosen for r in pairs] + [r.ref_rejected for r in pairs],
            dtype=logp.dtype,
            device=logp.device,
        )
        return dpo_loss(
            logp[:n], logp[n:], ref[:n], ref[n:], self.config.beta, self._label_smoothing()
        )

    def _label_smoothing(self) -> float:
        return 0.0


def _missing_reference(record: Record) -> bool:
    if isinstance(record, RegressionRecord):
        return record.ref_logprob is None or not math.isfinite(record.ref_logprob)
    return record.ref_chosen is None or record.ref_rejected is None
