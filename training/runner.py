"""One run: iterations of resumable stages in a run folder, on one process or many.

Each iteration t = 1..T runs the stages of a :mod:`solvers.lm` solver (OMPO, MPO, Step-DPO,
SPPO, DPO; :mod:`training.methods`), each writing its output before the next starts and then
marked complete in ``RUN/manifest.json``:

======== ============================================ =========================================
stage    does                                         writes (under ``RUN/iteration_t/``)
======== ============================================ =========================================
generate ``solver.generate(roots, rng)``: root        ``data/rollouts/NNNNN.pkl``,
         episodes of π^{t−1} and K answers per state  ``data/rollouts.jsonl`` (readable)
         (or K conversations per prompt)
judge    ``solver.judge``: oracle comparisons through ``data/records.jsonl``, ``data/judge.json``
         the env → the method's training records     (solver state, judge metrics)
score    ``solver.score``: log π^{t−1} of every       ``data/scored_records.jsonl``
         response, once per iteration
train    optimiser steps on ``solver.loss``           ``train_state/``, ``train_steps.jsonl``
         (checkpointed)
save     π^t as a Hugging Face folder, the solver's   ``config.json``, ``model.safetensors``,
         state for iteration t + 1                    tokenizer files, ``solver_state.json``
evaluate iteration metrics (exploitability if known)  ``metrics.json``
======== ============================================ =========================================

Generation is cut into chunks of root episodes (``resume.episodes_per_chunk``), each drawn from
a generator derived from its position (:mod:`training.seeding`) and shared round-robin between
the processes of ``accelerate launch``; scoring likewise in chunks of records. So a kill loses
at most one chunk, or ``checkpoint_every`` optimiser steps, and redone work is identical. The
judge runs on the main process (the methods pool answers across root episodes) with its own
derived generator; its oracle answers go to a persistent log (``RUN/oracle_answers/``) as they
arrive, so a redone judge asks the oracle nothing twice. Rollouts hold env snapshots and are
stored as Python pickles next to a readable JSONL view: load them only from run folders you
trust.
"""

from __future__ import annotations

import gc
import json
import math
import os
import pickle
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ompo_envs.batching import empty_cuda_cache
from training.config import ConfigError, TrainConfig, TrainingConfig, dump_toml, from_dict
from training.faults import fault_point
from training.lm import load_policy, retry_smaller
from training.methods import build_solver, rollout_rows, solver_config
from training.optimise import train_rows
from training.report import format_summary, progress_bar
from training.seeding import derive_seed, derived_rng
from training.storage import (
    TMP_MARK,
    AnswerLog,
    Manifest,
    atomic_write_bytes,
    atomic_write_text,
    read_jsonl,
    remove_temporaries,
    write_jsonl,
)
from training.trackers import RunTrackers, tracker_steps

__all__ = ["ITERATION_STAGES", "RunError", "Trainer"]

ITERATION_STAGES = ("generate", "judge", "score", "train", "save", "evaluate")
#: Keys that may differ between a run's stored config and the one given with ``--resume``.
RESUMABLE_CHANGES = (
    "run.iterations",
    "logging.progress",
    "logging.tensorboard",
    "logging.trackers",
    "logging.project",
    "logging.run_name",
)


class RunError(RuntimeError):
    """A run cannot start or a stage failed; the message says what to do."""


def iteration_dir(out: Path, t: int) -> Path:
    """``RUN/iteration_t``: the data of iteration t and, once saved, the model π^t."""
    return out / f"iteration_{t}"


class Trainer:
    """Runs (or resumes) a config in a run folder.

    Args:
        config: The validated config.
        out: The run folder.
        resume: Continue the run in ``out`` (it must exist); otherwise ``out`` must not hold one.
        accelerator: An ``accelerate.Accelerator`` (default: a new one).
    """

    def __init__(
        self,
        config: TrainingConfig,
        out: str | os.PathLike[str],
        *,
        resume: bool = False,
        accelerator: Any = None,
    ) -> None:
        self.config = config
        self.out = Path(out)
        self.resume = resume
        if accelerator is None:
            import torch
            from accelerate import Accelerator

            # Without a GPU, processes started by `accelerate launch --multi_gpu` (torchrun)
            # form a CPU process group (gloo) instead of running alone.
            accelerator = Accelerator(
                cpu=not torch.cuda.is_available(),
                project_dir=str(self.out),
            )
        self.accelerator = accelerator
        self.is_main = accelerator.is_main_process
        self.show = config.logging.progress and self.is_main
        self.trackers = RunTrackers(
            config.logging.active_trackers,
            self.out,
            project=config.logging.project,
            run_name=config.logging.run_name or config.run.name or self.out.name,
            config=config.to_dict(),
            enabled=self.is_main,
        )
        self.manifest: Manifest
        self.env: Any = None
        self.answers: AnswerLog | None = None
        self._trained: dict[int, Any] = {}
        self._policy: Any = None
        self._gguf: Path | None = None  # [model] as a GGUF file, converted to RUN/base_model

    # ------------------------------------------------------------------ entry point
    def run(self) -> list[dict[str, Any]]:
        """Run every remaining stage; return the per-iteration metrics."""
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the stage bars say what is happening
        # Everything that can be checked is checked before the run folder is touched.
        solver_config(self.config)  # a bad [solver] is refused before anything is written
        self._check_generation_backend()
        self._build_env()
        self._check_model_path()
        self._check_lora()
        self.trackers.check_installed()
        self._prepare_folder()
        self.trackers.start()
        self.answers = AnswerLog(self.out / "oracle_answers", rank=self.accelerator.process_index)
        self.env.oracle.attach_store(self.answers)
        self._prepare_base_model()
        if self.config.warm_start.steps:
            self._stage("warm_start", self._warm_start)
        for t in range(1, self.config.run.iterations + 1):
            for stage in ITERATION_STAGES:
                self._stage(f"iteration_{t}/{stage}", lambda s=stage, t=t: self._run(s, t))
        iterations = self._iteration_metrics()
        if self.is_main:
            table = format_summary(iterations)
            atomic_write_text(self.out / "summary.md", table + "\n")
            print(f"\nompo-train: {self.out} finished\n{table}", flush=True)
        self.trackers.finish()
        if self.answers is not None:
            self.answers.close()
        return iterations

    # ------------------------------------------------------------------ run folder
    def _prepare_folder(self) -> None:
        manifest_path = self.out / "manifest.json"
        if self.is_main:
            if manifest_path.exists() and not self.resume:
                raise RunError(
                    f"{self.out} already holds a run; pass --resume to continue it, or choose "
                    "another --out"
                )
            if self.resume and not manifest_path.exists():
                raise RunError(f"--resume: {self.out} holds no run (no manifest.json)")
            try:
                self.out.mkdir(parents=True, exist_ok=True)
                probe = self.out / f"{TMP_MARK}probe-{uuid.uuid4().hex[:8]}"
                probe.write_text("ok", encoding="utf-8")
                probe.unlink()
            except OSError as error:
                raise RunError(
                    f"run.out = {str(self.out)!r} is not writable ({error}); choose a folder you "
                    "can write to with --out"
                ) from error
            if self.resume:
                self._check_same_config()
                remove_temporaries(self.out)
            atomic_write_text(self.out / "config.toml", dump_toml(self.config))
            if not manifest_path.exists():
                Manifest(manifest_path).save()
        self.accelerator.wait_for_everyone()
        self.manifest = Manifest(manifest_path)

    def _check_same_config(self) -> None:
        import tomllib

        stored = from_dict(
            tomllib.loads((self.out / "config.toml").read_text(encoding="utf-8")),
            where=str(self.out / "config.toml"),
        ).to_dict()
        given = self.config.to_dict()
        changed = [
            f"{section}.{key}"
            for section, table in given.items()
            for key, value in table.items()
            if stored[section][key] != value
            and f"{section}.{key}" not in RESUMABLE_CHANGES
            and (section, key) not in (("run", "out"),)
        ]
        if changed:
            raise RunError(
                f"--resume: the config differs from the run's stored config in {changed}; a "
                f"resumed run must use the same settings (only {list(RESUMABLE_CHANGES)} may "
                f"change). Resume with {self.out / 'config.toml'} or start a new run"
            )

    # ------------------------------------------------------------------ oracle, env, model
    def _build_env(self) -> None:
        import ompo_envs
        from ompo_envs.text import TextPreferenceGameEnv
        from training.oracles import build_oracle

        cfg = self.config
        kwargs = dict(cfg.env.options)
        oracle = build_oracle(cfg.oracle)
        if oracle is not None:
            kwargs["oracle"] = oracle
        not_text = ConfigError(
            f"env.id = {cfg.env.id!r} is not a text env; ompo-train trains language models "
            "on text games (MTBench101-v0, GSM8K-v0, TextRockPaperScissors-v0, ...)"
        )
        try:
            env = ompo_envs.make(cfg.env.id, **kwargs)
        except (TypeError, ValueError) as error:
            if "oracle" in kwargs and isinstance(error, TypeError) and not _is_text_env(cfg):
                raise not_text from error
            raise ConfigError(f"env.id = {cfg.env.id!r} with env.options: {error}") from error
        env = getattr(env, "unwrapped", env)
        if not isinstance(env, TextPreferenceGameEnv):
            raise not_text
        self.env = env

    def _check_generation_backend(self) -> None:
        """``generation.backend = "vllm"`` needs the vllm package and a CUDA GPU."""
        if self.config.generation.backend != "vllm":
            return
        import importlib.util

        missing = []
        if importlib.util.find_spec("vllm") is None:
            missing.append('the vllm package (pip install "ompo-envs[vllm]")')
        if not _cuda_available():
            missing.append("a CUDA GPU")
        if missing:
            raise ConfigError(
                f"generation.backend = 'vllm' needs {' and '.join(missing)}, which this install "
                "lacks; use generation.backend = 'transformers'"
            )

    def _check_model_path(self) -> None:
        """A local model path must exist (a hub name is checked when it loads)."""
        path = self.config.model.path
        if path != "tiny" and self._check_gguf():
            return
        local = Path(path).expanduser()
        if path != "tiny" and not local.exists() and path.startswith(("/", "./", "../", "~")):
            raise ConfigError(
                f"model.path = {path!r} does not exist; give a local model folder, a hub "
                'name (org/name) or "tiny"'
            )
        self.base_model = str(local) if local.exists() else path
        if path == "tiny":
            return
        from transformers import AutoConfig

        from ompo_envs.oracles.pair_lm import _hub_offline

        try:
            AutoConfig.from_pretrained(self.base_model, local_files_only=_hub_offline())
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"model.path = {path!r} cannot be loaded: {error}. Give a local model folder "
                '(config.json, weights, tokenizer), a hub name in the local cache, or "tiny"'
            ) from error

    def _check_lora(self) -> None:
        """Check ``[model] lora`` before the run folder is touched.

        Its target modules must be linear layers of the model, and the processes must hold
        whole models (one process or DDP: no FSDP / DeepSpeed sharding).
        """
        settings = self.config.model.lora_settings()
        if settings is None:
            return
        import importlib.util

        if importlib.util.find_spec("peft") is None:
            raise ConfigError(
                "model.lora needs the peft package, which this install lacks: pip install "
                '"ompo-envs[lora]" (or remove model.lora for full fine-tuning)'
            )
        kind = str(getattr(self.accelerator, "distributed_type", "NO")).rsplit(".", 1)[-1]
        if kind in ("FSDP", "DEEPSPEED"):
            raise ConfigError(
                f"model.lora is not supported with {kind} (the adapter is merged on each "
                "process's whole model): launch plain data-parallel processes (--multi_gpu) "
                "or one process"
            )
        try:
            settings.check_model(_meta_model(self.config.model, self.base_model))
        except ValueError as error:
            raise ConfigError(f"model.lora.{error}") from error

    def _check_gguf(self) -> bool:
        """Whether ``[model]`` names a GGUF file; if so, it must be a causal LM (else refused)."""
        from ompo_envs.lm.convert_gguf import gguf_config, gguf_source

        cfg = self.config.model
        try:
            self._gguf = gguf_source(cfg.path, cfg.gguf_file or None)
            if self._gguf is None:
                return False
            gguf_config(self._gguf)
        except (ImportError, ValueError) as error:
            key, value = ("gguf_file", cfg.gguf_file) if cfg.gguf_file else ("path", cfg.path)
            raise ConfigError(f"model.{key} = {value!r}: {error}") from error
        self.base_model = str(self._gguf)  # converted into RUN/base_model before it is used
        return True

    def _prepare_base_model(self) -> None:
        cfg = self.config.model
        if cfg.path != "tiny" and self._gguf is None:
            return
        target = self.out / "base_model"
        if self.is_main and not (target / "config.json").exists():
            from ompo_envs.lm.convert_gguf import convert_gguf
            from ompo_envs.oracles.tiny_models import build_tiny_causal_lm

            tmp = self.out / f"base_model{TMP_MARK}{uuid.uuid4().hex[:8]}"
            if self._gguf is not None:
                if self.show:
                    print(f"ompo-train: converting {self._gguf} into {target}", flush=True)
                convert_gguf(self._gguf, tmp)
            else:
                build_tiny_causal_lm(
                    tmp,
                    hidden_size=cfg.tiny_hidden_size,
                    num_layers=cfg.tiny_layers,
                    seed=self.config.run.seed,
                )
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
        self.accelerator.wait_for_everyone()
        self.base_model = str(target)

    def _policy_path(self, t: int) -> str:
        """The folder of π^{t−1}, which iteration t samples from."""
        if t > 1:
            return str(iteration_dir(self.out, t - 1))
        if self.config.warm_start.steps:
            return str(iteration_dir(self.out, 0))
        return self.base_model

    def _load(self, path: str) -> Any:
        """Load π from ``path`` as the stage's policy (the previous stage's is released first)."""
        # One policy in memory at a time (OMPO's "policy" source adds π^{t−2} in its stages).
        self._policy = None
        gc.collect()
        empty_cuda_cache()
        self._policy = self._load_policy(path)
        return self._policy

    def _load_policy(self, path: str) -> Any:
        """Load π from ``path`` as an :class:`~ompo_envs.lm.LMPolicy` on this process's device."""
        cfg = self.config
        try:
            policy = load_policy(
                path,
                dtype=cfg.model.dtype,
                device=str(self.accelerator.device),
                generation=cfg.generation,
                scoring_batch_size=cfg.train.logprob_batch_size,
            )
        except (OSError, ValueError, TypeError) as error:
            raise ConfigError(f"model.path = {cfg.model.path!r}: {error}") from error
        return policy

    # ------------------------------------------------------------------ stages
    def _stage(self, name: str, body: Callable[[], None]) -> None:
        if self.manifest.is_complete(name):
            return
        cuda = _cuda_available()
        if cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        fault_point(f"{name}#start")
        try:
            body()
        except (ConfigError, RunError):
            raise
        except Exception as error:
            raise RunError(
                f"stage {name} failed: {type(error).__name__}: {error}\nThe run folder "
                f"{self.out} is resumable: fix the cause and rerun with --resume"
            ) from error
        self.accelerator.wait_for_everyone()
        info: dict[str, float] = {"seconds": time.perf_counter() - start}
        if cuda:
            import torch

            info["peak_gpu_bytes"] = float(torch.cuda.max_memory_allocated())
        self.manifest.data["completed"][name] = info
        if self.is_main:
            self.manifest.save()
        self.accelerator.wait_for_everyone()
        fault_point(f"{name}#done")

    def _run(self, stage: str, t: int) -> None:
        getattr(self, f"_{stage}")(t)

    def _chunked(
        self,
        t: int,
        stage: str,
        count: int,
        make: Callable[[int], Any],
        *,
        folder: Path,
        suffix: str,
        bar: Any,
        units: Callable[[Any], int],
    ) -> list[Any]:
        """Run ``make(c)`` for this process's chunks not saved yet; return every chunk, in order.

        Chunk c goes to process c mod N and is saved (atomically) to ``folder/NNNNN<suffix>``
        as JSONL rows (``.jsonl``) or a pickle (``.pkl``) before the next starts.
        """
        rank, n_proc = self.accelerator.process_index, self.accelerator.num_processes
        for c in range(rank, count, n_proc):
            path = folder / f"{c:05d}{suffix}"
            if path.exists():
                bar.update(units(_read_part(path)))
                continue
            part = make(c)
            if suffix == ".pkl":
                atomic_write_bytes(path, pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL))
            else:
                write_jsonl(path, part)
            bar.update(units(part))
            fault_point(f"iteration_{t}/{stage}#chunk{c}")
        bar.close()
        self.accelerator.wait_for_everyone()
        return [_read_part(folder / f"{c:05d}{suffix}") for c in range(count)]

    def _data(self, t: int, name: str) -> list[dict[str, Any]]:
        return read_jsonl(iteration_dir(self.out, t) / "data" / f"{name}.jsonl")

    def _solver(self, t: int, policy: Any, *, state: dict[str, Any] | None = None) -> Any:
        """Iteration t's solver with π^{t−1} = ``policy``, continuing iteration t − 1's state.

        ``state`` replaces the state saved at the end of iteration t − 1 (the judge's, to
        finish the iteration). OMPO with ``optimism_source = "policy"`` also gets π^{t−2}.
        """
        solver = build_solver(self.config, self.env, policy)
        if state is None and t > 1:
            path = iteration_dir(self.out, t - 1) / "solver_state.json"
            state = json.loads(path.read_text(encoding="utf-8"))
        if state is not None:
            if getattr(solver.config, "optimism_source", None) == "policy" and t > 1:
                previous = self._load_policy(self._policy_path(t - 1))
                solver.load_state_dict(state, previous_policy=previous)
            else:
                solver.load_state_dict(state)
        return solver

    def _generate(self, t: int) -> None:
        cfg = self.config
        policy = self._load(self._policy_path(t))
        if cfg.generation.backend == "vllm":
            from ompo_envs.lm import VLLMBackend

            # vLLM serves π^{t−1}'s saved folder (same prompt ids as scoring: policy.format)
            policy.backend = VLLMBackend(
                self._policy_path(t),
                policy.format,
                dtype=cfg.model.dtype,
                seed=cfg.run.seed,
                **cfg.generation.vllm_options,
            )
        solver = self._solver(t, policy)
        n, per = cfg.env.episodes_per_iteration, cfg.resume.episodes_per_chunk
        bar = progress_bar(self.show, f"iter {t} generate", "episode", n)

        started, tokens_before = time.perf_counter(), _generated_tokens(policy)

        def make(c: int) -> Any:
            roots = list(range(c * per, min(n, (c + 1) * per)))
            part = retry_smaller(
                policy,
                lambda: solver.generate(roots, rng=derived_rng(cfg.run.seed, "generate", t, c)),
            )
            tokens = _generated_tokens(policy) - tokens_before
            if tokens > 0:  # backends that count (transformers): answer tokens per second
                bar.set_postfix(tokens_per_s=f"{tokens / (time.perf_counter() - started):.1f}")
            return part

        data = iteration_dir(self.out, t) / "data"
        parts = self._chunked(
            t,
            "generate",
            math.ceil(n / per),
            make,
            folder=data / "rollouts",
            suffix=".pkl",
            bar=bar,
            units=lambda part: len(part.roots),
        )
        if self.is_main:
            write_jsonl(data / "rollouts.jsonl", rollout_rows(type(parts[0]).concatenate(parts)))

    def _rollouts(self, t: int) -> Any:
        """Iteration t's rollouts, the generate stage's chunks joined in order."""
        n, per = self.config.env.episodes_per_iteration, self.config.resume.episodes_per_chunk
        folder = iteration_dir(self.out, t) / "data" / "rollouts"
        parts = [_read_part(folder / f"{c:05d}.pkl") for c in range(math.ceil(n / per))]
        return type(parts[0]).concatenate(parts)

    def _judge(self, t: int) -> None:
        from solvers.lm.records import records_to_json

        if self.is_main:
            policy = self._load(self._policy_path(t))
            solver = self._solver(t, policy)
            rollouts = self._rollouts(t)
            # the oracle pairs answered (and stored) so far, with their rate
            bar = progress_bar(self.show, f"iter {t} judge", "pair")
            self.answers.on_put = bar.update
            try:
                with solver.random_source(derived_rng(self.config.run.seed, "judge", t)):
                    records = solver.judge(rollouts)
            finally:
                self.answers.on_put = None
            bar.set_postfix(queries=solver.comparisons.num_queries, records=len(records))
            bar.close()
            data = iteration_dir(self.out, t) / "data"
            write_jsonl(data / "records.jsonl", records_to_json(records))
            metrics = {
                "preference_queries": float(solver.comparisons.num_queries),
                **solver.stage_metrics,
            }
            judged = {"state": solver.state_dict(), "metrics": metrics}
            atomic_write_text(data / "judge.json", json.dumps(judged) + "\n")
        self.accelerator.wait_for_everyone()

    def _score(self, t: int) -> None:
        from solvers.lm.records import records_from_json, records_to_json

        rows = self._data(t, "records")
        policy = self._load(self._policy_path(t))
        solver = self._solver(t, policy)
        per = self.config.resume.rows_per_chunk
        bar = progress_bar(self.show, f"iter {t} score", "record", len(rows))

        def make(c: int) -> list[dict[str, Any]]:
            chunk = records_from_json(rows[c * per : (c + 1) * per])
            return records_to_json(retry_smaller(policy, lambda: solver.score(chunk)))

        parts = self._chunked(
            t,
            "score",
            math.ceil(len(rows) / per),
            make,
            folder=iteration_dir(self.out, t) / "parts" / "score",
            suffix=".jsonl",
            bar=bar,
            units=len,
        )
        if self.is_main:
            scored = [row for part in parts for row in part]
            write_jsonl(iteration_dir(self.out, t) / "data" / "scored_records.jsonl", scored)

    def _train(self, t: int) -> None:
        self._trained[t] = self._trained_model(t)

    def _trained_model(self, t: int) -> Any:
        """Run or resume iteration t's optimiser; return the prepared model."""
        if t in self._trained:
            return self._trained[t]
        from solvers.lm.records import records_from_json

        cfg = self.config
        policy = self._load(self._policy_path(t))
        solver = build_solver(cfg, self.env, policy)
        records = records_from_json(self._data(t, "scored_records"))

        def loss(model: Any, batch: Sequence[Any]) -> Any:
            return solver.loss(batch, model=model)

        folder = iteration_dir(self.out, t)
        bar = progress_bar(self.show, f"iter {t} train", "step")
        model, result = self._optimise(
            policy.model,
            records,
            [r.weight for r in records],
            loss,
            cfg.train,
            t,
            folder / "train_state",
            f"iteration_{t}/train",
            bar,
        )
        bar.close()
        if self.is_main:
            write_jsonl(folder / "train_steps.jsonl", result.step_metrics)
        return model

    def _optimise(
        self,
        model: Any,
        rows: Sequence[Any],
        weights: Sequence[float],
        loss: Any,
        settings: Any,
        t: int,
        state_dir: Path,
        stage: str,
        bar: Any,
    ) -> tuple[Any, Any]:
        if self.config.model.gradient_checkpointing:
            enable = getattr(model, "activation_checkpointing_enable", None)
            (enable or model.gradient_checkpointing_enable)()
            model.config.use_cache = False
        lora = self.config.model.lora_settings()
        if lora is not None:
            from ompo_envs.lm.lora import attach_adapter

            if self.config.model.gradient_checkpointing:
                # the frozen embeddings give no gradient: checkpointed layers need one to flow
                model.enable_input_require_grads()
            seed = derive_seed(self.config.run.seed, "lora-init", t)
            model = attach_adapter(model, lora, seed=seed)
        self.accelerator.free_memory()

        offset = self._tracker_step(t - 1) if t and self.trackers.names else 0

        def on_step(metrics: dict[str, float]) -> None:
            if t:  # steps.jsonl holds the iterations' steps, not the warm start's
                self.trackers.log_train_step(offset, metrics)

        return train_rows(
            self.accelerator,
            model,
            rows,
            loss,
            weights=weights,
            settings=settings,
            seed=self.config.run.seed,
            iteration=t,
            state_dir=state_dir,
            checkpoint_every=self.config.resume.checkpoint_every,
            stage=stage,
            on_step=on_step,
            progress=bar,
        )

    def _save(self, t: int) -> None:
        model = self._trained_model(t)
        folder = iteration_dir(self.out, t)
        self._save_model(model, folder, base=self._policy_path(t))
        self._trained.pop(t, None)
        self.accelerator.free_memory()
        if self.is_main:
            # The judge's state, with the iteration finished (OMPO: π^{t−1}'s answers become
            # the stored ones): what iteration t + 1's solver continues from.
            judged = json.loads((folder / "data" / "judge.json").read_text(encoding="utf-8"))
            solver = self._solver(t, self._policy, state=judged["state"])
            solver.finish_iteration({})
            text = json.dumps(solver.state_dict()) + "\n"
            atomic_write_text(folder / "solver_state.json", text)
        self.accelerator.wait_for_everyone()

    def _save_model(self, model: Any, target: Path, *, base: str) -> None:
        """Write π (trained from the folder ``base``) + tokenizer; the config file lands last.

        Without LoRA, or with ``model.lora_save = "merged"`` (the adapter merged first), a plain
        Hugging Face folder; with ``"adapter"``, the adapter alone, based on ``base``.
        """
        from ompo_envs.lm.lora import adapter_snapshot, merge_adapter, save_adapter

        accelerator = self.accelerator
        unwrapped = accelerator.unwrap_model(model)
        lora = self.config.model.lora_settings() is not None
        adapter = lora and self.config.model.lora_save == "adapter"
        tmp = target / f"model{TMP_MARK}{uuid.uuid4().hex[:8]}"
        if self.is_main:
            tmp.mkdir(parents=True)
        accelerator.wait_for_everyone()
        if adapter:
            if self.is_main:
                local = Path(base).expanduser()
                reference = str(local.resolve()) if local.exists() else base
                save_adapter(adapter_snapshot(unwrapped), tmp, base=reference)
        else:
            if lora:
                unwrapped = merge_adapter(unwrapped)  # every process holds the whole model
            state = unwrapped.state_dict() if lora else accelerator.get_state_dict(model)
            unwrapped.save_pretrained(
                tmp,
                is_main_process=self.is_main,
                save_function=accelerator.save,
                state_dict=state,
                safe_serialization=True,
            )
        if self.is_main:
            self._policy.tokenizer.save_pretrained(tmp)
            last = "adapter_config.json" if adapter else "config.json"
            names = sorted(p.name for p in tmp.iterdir())
            for name in [n for n in names if n != last] + [last]:
                os.replace(tmp / name, target / name)
            tmp.rmdir()
        accelerator.wait_for_everyone()

    def _evaluate(self, t: int) -> None:
        folder = iteration_dir(self.out, t)
        records = self._data(t, "records")
        judged = json.loads((folder / "data" / "judge.json").read_text(encoding="utf-8"))
        steps = read_jsonl(folder / "train_steps.jsonl")
        metrics: dict[str, Any] = {
            "iteration": float(t),
            "episodes": float(self.config.env.episodes_per_iteration),
            "states": float(len(self._data(t, "rollouts"))),
            "records": float(len(records)),
            "record_weight": float(sum(r["weight"] for r in records)),
            **judged["metrics"],
            "train_steps": float(len(steps)),
            "train_loss": float(np.mean([s["loss"] for s in steps])) if steps else float("nan"),
        }
        for stage in ITERATION_STAGES[:5]:
            info = self.manifest.stage_info(f"iteration_{t}/{stage}")
            metrics[f"seconds_{stage}"] = info.get("seconds", float("nan"))
            if "peak_gpu_bytes" in info:
                metrics[f"peak_gpu_gib_{stage}"] = info["peak_gpu_bytes"] / 2**30
        n = self.config.evaluate.exploitability_episodes
        if n and _has_class_game(self.env) and self.is_main:
            metrics.update(self._exploitability(t, n))
        if self.is_main:
            atomic_write_text(folder / "metrics.json", json.dumps(metrics, indent=1) + "\n")
            shutil.rmtree(folder / "train_state", ignore_errors=True)
            shutil.rmtree(folder / "parts", ignore_errors=True)
            self._write_metric_files()
            self.trackers.log_iteration(self._tracker_step(t), metrics)
            if "exploitability" in metrics:
                _print_exploitability(metrics)

    def _exploitability(self, t: int, n: int) -> dict[str, Any]:
        """Exploitability of π^t's induced class policy from ``n`` self-play episodes.

        π^t is the saved iteration folder, loaded as a policy (one process, no wrapper); the
        estimate is :func:`ompo_envs.text.induced.estimate_exploitability` (exact evaluation of
        the class policy, bootstrap standard error).
        """
        from ompo_envs.text.induced import estimate_exploitability

        policy = self._load(str(iteration_dir(self.out, t)))
        rng = derived_rng(self.config.run.seed, "evaluate", t)
        estimate = estimate_exploitability(self.env, policy, num_episodes=n, rng=rng)
        return {
            "exploitability": estimate.value,
            "exploitability_stderr": estimate.stderr,
            "unrecognised_rate": estimate.unrecognised_rate,
        }

    def _warm_start(self) -> None:
        cfg = self.config
        policy = self._load(self.base_model)
        answers = cfg.warm_start.answers
        pairs = []
        for i in range(cfg.env.episodes_per_iteration):
            _, infos = self.env.reset(seed=derive_seed(cfg.run.seed, "warm-start", i))
            pairs.append((infos["player_0"]["messages"], answers[i % len(answers)]))

        def loss(model: Any, batch: Sequence[tuple[Any, str]]) -> Any:
            """ℓ(s, a) = −log π(a | s): supervised fine-tuning on the fixed answers."""
            return -policy.log_probs([c for c, _ in batch], [a for _, a in batch], model=model)

        # Full-batch steps: one global batch holds every pair, repeated warm_start.steps times.
        n_proc = self.accelerator.num_processes
        settings = TrainConfig(
            learning_rate=cfg.warm_start.learning_rate,
            epochs=cfg.warm_start.steps,
            batch_size=math.ceil(len(pairs) / n_proc),
            lr_schedule="constant",
            optimizer=cfg.train.optimizer,
        )
        bar = progress_bar(self.show, "warm start", "step")
        model, _ = self._optimise(
            policy.model,
            pairs,
            [1.0] * len(pairs),
            loss,
            settings,
            0,
            iteration_dir(self.out, 0) / "train_state",
            "warm_start",
            bar,
        )
        bar.close()
        self._save_model(model, iteration_dir(self.out, 0), base=self.base_model)
        if self.is_main:
            shutil.rmtree(iteration_dir(self.out, 0) / "train_state", ignore_errors=True)
        self.accelerator.free_memory()
        n = cfg.evaluate.exploitability_episodes
        if n and _has_class_game(self.env) and self.is_main:
            # The starting point of the exploitability curve (π^0, what iteration 1 samples).
            metrics = {"iteration": 0.0, **self._exploitability(0, n)}
            text = json.dumps(metrics, indent=1) + "\n"
            atomic_write_text(iteration_dir(self.out, 0) / "metrics.json", text)
            self.trackers.log_iteration(0, metrics)
            _print_exploitability(metrics)

    # ------------------------------------------------------------------ metrics files
    def _iteration_metrics(self) -> list[dict[str, Any]]:
        """Every finished iteration's metrics (iteration 0: the warm start's exploitability)."""
        out = []
        for t in range(0, self.config.run.iterations + 1):
            path = iteration_dir(self.out, t) / "metrics.json"
            if path.exists():
                out.append(json.loads(path.read_text(encoding="utf-8")))
        return out

    def _tracker_step(self, t: int) -> int:
        """S_t of :func:`training.trackers.tracker_steps`: where iteration t's metrics go."""
        counts = [
            len(read_jsonl(iteration_dir(self.out, s) / "train_steps.jsonl"))
            for s in range(1, t + 1)
        ]
        return tracker_steps(counts)[t]

    def _write_metric_files(self) -> None:
        write_jsonl(self.out / "iterations.jsonl", self._iteration_metrics())
        steps = []
        for t in range(1, self.config.run.iterations + 1):
            path = iteration_dir(self.out, t) / "train_steps.jsonl"
            if path.exists():
                steps.extend(read_jsonl(path))
        write_jsonl(self.out / "steps.jsonl", steps)


def _meta_model(model: Any, path: str) -> Any:
    """The ``[model]``'s architecture on the meta device (its module names; no weights)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig

    from ompo_envs.lm.convert_gguf import gguf_config, gguf_source
    from ompo_envs.oracles.pair_lm import _hub_offline

    if model.path == "tiny":  # a Llama (ompo_envs.oracles.tiny_models)
        config = LlamaConfig(
            hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2
        )
    elif (gguf := gguf_source(model.path, model.gguf_file or None)) is not None:
        config = gguf_config(gguf)
    else:
        config = AutoConfig.from_pretrained(path, local_files_only=_hub_offline())
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def _print_exploitability(metrics: dict[str, Any]) -> None:
    print(
        f"iteration {metrics['iteration']:.0f}: exploitability {metrics['exploitability']:.4f} ± "
        f"{metrics['exploitability_stderr']:.4f} (unrecognised answers "
        f"{metrics['unrecognised_rate']:.0%})",
        flush=True,
    )


def _has_class_game(env: Any) -> bool:
    from ompo_envs.text.induced import class_game_of

    try:
        class_game_of(env)
    except TypeError:
        return False
    return True


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch comes with the train extra
        return False
    return torch.cuda.is_available()


def _is_text_env(config: TrainingConfig) -> bool:
    """Whether ``env.id`` builds a text env when made without an oracle (False if it fails)."""
    import ompo_envs
    from ompo_envs.text import TextPreferenceGameEnv

    try:
        env = ompo_envs.make(config.env.id, **config.env.options)
    except Exception:
        return False
    return isinstance(getattr(env, "unwrapped", env), TextPreferenceGameEnv)


def _read_part(path: Path) -> Any:
    """A saved chunk: JSONL rows, or the pickled rollouts of a generate chunk."""
    if path.suffix == ".pkl":
        with open(path, "rb") as handle:
            return pickle.load(handle)  # written by this run (module docstring)
    return read_jsonl(path)


def _generated_tokens(policy: Any) -> int:
    """Answer tokens the policy's generation backend made so far (0 if it does not count)."""
    return int(getattr(getattr(policy, "backend", None), "completion_tokens", 0))
