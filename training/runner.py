"""One run: iterations of resumable stages in a run folder, on one process or many.

Each iteration t = 1..T runs six stages; each writes its output before the next starts and is
then marked complete in ``RUN/manifest.json``:

======== ============================================ =========================================
stage    does                                         writes (under ``RUN/iteration_t/``)
======== ============================================ =========================================
generate episodes with π^{t−1}, K answers per state    ``data/rollouts.jsonl``
judge    P(a_i ≻ a_j | S_h) for the K answers          ``data/labels.jsonl``
score    log π^{t−1}(a_k | S_h), once per iteration    ``data/logprobs.jsonl``
train    optimiser steps (checkpointed)                ``train_state/``, ``train_steps.jsonl``
save     the policy π^t as a Hugging Face folder       ``config.json``, ``model.safetensors``,
                                                       tokenizer files
evaluate iteration metrics (exploitability if known)   ``metrics.json``
======== ============================================ =========================================

The first three stages save their work in chunks (``parts/<stage>/NNNNN.jsonl``), the train stage
in checkpoints, so a kill loses at most one chunk or ``checkpoint_every`` steps; every random
draw is seeded from its position (:mod:`training.seeding`), so redone work is identical. Oracle
answers go to a persistent log (``RUN/oracle_answers/``) as they arrive and are never asked
twice. Chunks are shared round-robin between the processes of ``accelerate launch``.
"""

from __future__ import annotations

import gc
import json
import math
import os
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
from training.lm import Batcher, load_policy
from training.methods import check_method, method_plan, supervised_loss
from training.optimise import Example, train_examples
from training.report import format_summary, progress_bar
from training.rollouts import generate_chunk, judge_rows, score_rows
from training.seeding import derive_seed, derived_rng
from training.storage import (
    TMP_MARK,
    AnswerLog,
    Manifest,
    atomic_write_text,
    read_jsonl,
    remove_temporaries,
    write_jsonl,
)

__all__ = ["ITERATION_STAGES", "RunError", "Trainer"]

ITERATION_STAGES = ("generate", "judge", "score", "train", "save", "evaluate")
#: Keys that may differ between a run's stored config and the one given with ``--resume``.
RESUMABLE_CHANGES = ("run.iterations", "logging.progress", "logging.tensorboard")


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
                log_with="tensorboard" if config.logging.tensorboard else None,
                project_dir=str(self.out),
            )
        self.accelerator = accelerator
        self.is_main = accelerator.is_main_process
        self.show = config.logging.progress and self.is_main
        self.manifest: Manifest
        self.env: Any = None
        self.answers: AnswerLog | None = None
        self._trained: dict[int, Any] = {}
        self._policy: Any = None

    # ------------------------------------------------------------------ entry point
    def run(self) -> list[dict[str, Any]]:
        """Run every remaining stage; return the per-iteration metrics."""
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the stage bars say what is happening
        # Everything that can be checked is checked before the run folder is touched.
        try:
            check_method(self.config.solver.method)
        except NotImplementedError as error:
            raise ConfigError(str(error)) from error
        self._build_env()
        self._check_model_path()
        self._prepare_folder()
        if self.config.logging.tensorboard:
            self.accelerator.init_trackers("tensorboard")
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
        if self.config.logging.tensorboard:
            self.accelerator.end_training()
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

    def _check_model_path(self) -> None:
        """A local model path must exist (a hub name is checked when it loads)."""
        path = self.config.model.path
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

    def _prepare_base_model(self) -> None:
        cfg = self.config.model
        if cfg.path != "tiny":
            return
        target = self.out / "base_model"
        if self.is_main and not (target / "config.json").exists():
            from ompo_envs.oracles.tiny_models import build_tiny_causal_lm

            tmp = self.out / f"base_model{TMP_MARK}{uuid.uuid4().hex[:8]}"
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
        """Load π from ``path`` as an :class:`~ompo_envs.lm.LMPolicy` on this process's device."""
        cfg = self.config
        # One policy in memory at a time: the previous stage's is released before loading.
        self._policy = None
        gc.collect()
        empty_cuda_cache()
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
        self._policy = policy
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

    def _chunks(
        self,
        t: int,
        stage: str,
        items: Sequence[Any],
        per_chunk: int,
        make: Callable[[int, Sequence[Any]], list[dict[str, Any]]],
        bar: Any,
        units: Callable[[list[dict[str, Any]]], int],
    ) -> list[dict[str, Any]]:
        """Run ``make`` per chunk (this process's share), saving each; return all rows."""
        folder = iteration_dir(self.out, t) / "parts" / stage
        count = math.ceil(len(items) / per_chunk)
        rank, n_proc = self.accelerator.process_index, self.accelerator.num_processes
        for c in range(rank, count, n_proc):
            path = folder / f"{c:05d}.jsonl"
            if path.exists():
                bar.update(units(read_jsonl(path)))
                continue
            rows = make(c, items[c * per_chunk : (c + 1) * per_chunk])
            write_jsonl(path, rows)
            bar.update(units(rows))
            fault_point(f"iteration_{t}/{stage}#chunk{c}")
        bar.close()
        self.accelerator.wait_for_everyone()
        rows = [row for c in range(count) for row in read_jsonl(folder / f"{c:05d}.jsonl")]
        if self.is_main:
            write_jsonl(iteration_dir(self.out, t) / "data" / f"{_OUTPUT[stage]}.jsonl", rows)
        return rows

    def _data(self, t: int, stage: str) -> list[dict[str, Any]]:
        return read_jsonl(iteration_dir(self.out, t) / "data" / f"{_OUTPUT[stage]}.jsonl")

    def _generate(self, t: int) -> None:
        cfg = self.config
        policy = self._load(self._policy_path(t))
        batcher = Batcher(cfg.generation.batch_size)
        episodes = list(range(cfg.env.episodes_per_iteration))
        bar = progress_bar(self.show, f"iter {t} generate", "rollout", len(episodes))
        tokens = 0
        started = time.perf_counter()

        def make(c: int, chunk: Sequence[int]) -> list[dict[str, Any]]:
            nonlocal tokens
            rows, new = generate_chunk(
                self.env,
                policy,
                chunk,
                seed=cfg.run.seed,
                iteration=t,
                chunk=c,
                num_answers=cfg.solver.num_answers,
                reset_options=cfg.env.reset_options,
                batcher=batcher,
            )
            tokens += new
            bar.set_postfix(tok_s=f"{tokens / max(1e-9, time.perf_counter() - started):.0f}")
            return rows

        self._chunks(
            t,
            "generate",
            episodes,
            cfg.resume.episodes_per_chunk,
            make,
            bar,
            lambda rows: len({r["episode"] for r in rows}),
        )

    def _judge(self, t: int) -> None:
        rows = self._data(t, "generate")
        k = self.config.solver.num_answers
        bar = progress_bar(self.show, f"iter {t} judge", "pair", len(rows) * k * (k - 1) // 2)
        self._chunks(
            t,
            "judge",
            rows,
            self.config.resume.rows_per_chunk,
            lambda c, chunk: judge_rows(self.env.oracle, chunk),
            bar,
            lambda out: sum(len(r["win_rate"]) * (len(r["win_rate"]) - 1) // 2 for r in out),
        )

    def _score(self, t: int) -> None:
        rows = self._data(t, "generate")
        policy = self._load(self._policy_path(t))
        batcher = Batcher(self.config.train.logprob_batch_size)
        total = sum(len(r["answers"]) for r in rows)
        bar = progress_bar(self.show, f"iter {t} score", "seq", total)
        tokens = 0
        started = time.perf_counter()

        def make(c: int, chunk: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
            nonlocal tokens
            out, new = score_rows(policy, chunk, batcher)
            tokens += new
            bar.set_postfix(tok_s=f"{tokens / max(1e-9, time.perf_counter() - started):.0f}")
            return out

        self._chunks(
            t,
            "score",
            rows,
            self.config.resume.rows_per_chunk,
            make,
            bar,
            lambda out: sum(len(r["logprobs"]) for r in out),
        )

    def _train(self, t: int) -> None:
        self._trained[t] = self._trained_model(t)

    def _trained_model(self, t: int) -> Any:
        """Run or resume iteration t's optimiser; return the prepared model."""
        if t in self._trained:
            return self._trained[t]
        cfg = self.config
        policy = self._load(self._policy_path(t))
        plan = method_plan(cfg.solver.method, policy, beta=cfg.solver.beta)
        examples = plan.examples(
            self._data(t, "generate"), self._data(t, "judge"), self._data(t, "score")
        )
        folder = iteration_dir(self.out, t)
        bar = progress_bar(self.show, f"iter {t} train", "step")
        state = folder / "train_state"
        stage = f"iteration_{t}/train"
        model, result = self._optimise(
            policy.model, examples, plan.loss, cfg.train, t, state, stage, bar
        )
        bar.close()
        if self.is_main:
            write_jsonl(folder / "train_steps.jsonl", result.step_metrics)
        return model

    def _optimise(
        self,
        model: Any,
        examples: Sequence[Example],
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
        self.accelerator.free_memory()

        def on_step(metrics: dict[str, float]) -> None:
            if self.config.logging.tensorboard:
                values = {f"iteration_{t}/{k}": v for k, v in metrics.items() if k != "step"}
                self.accelerator.log(values, step=int(metrics["step"]))

        return train_examples(
            self.accelerator,
            model,
            examples,
            loss,
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
        self._save_model(model, iteration_dir(self.out, t))
        self._trained.pop(t, None)
        self.accelerator.free_memory()

    def _save_model(self, model: Any, target: Path) -> None:
        """Write ``model`` + tokenizer as a Hugging Face folder; ``config.json`` lands last."""
        accelerator = self.accelerator
        unwrapped = accelerator.unwrap_model(model)
        state = accelerator.get_state_dict(model)
        tmp = target / f"model{TMP_MARK}{uuid.uuid4().hex[:8]}"
        if self.is_main:
            tmp.mkdir(parents=True)
        accelerator.wait_for_everyone()
        unwrapped.save_pretrained(
            tmp,
            is_main_process=self.is_main,
            save_function=accelerator.save,
            state_dict=state,
            safe_serialization=True,
        )
        if self.is_main:
            self._policy.tokenizer.save_pretrained(tmp)
            names = sorted(p.name for p in tmp.iterdir())
            for name in [n for n in names if n != "config.json"] + ["config.json"]:
                os.replace(tmp / name, target / name)
            tmp.rmdir()
        accelerator.wait_for_everyone()

    def _evaluate(self, t: int) -> None:
        folder = iteration_dir(self.out, t)
        rows, labels = self._data(t, "generate"), self._data(t, "judge")
        steps = read_jsonl(folder / "train_steps.jsonl")
        metrics: dict[str, Any] = {
            "iteration": float(t),
            "episodes": float(len({r["episode"] for r in rows})),
            "rows": float(len(rows)),
            "oracle_pairs": float(
                sum(len(x["win_rate"]) * (len(x["win_rate"]) - 1) // 2 for x in labels)
            ),
            "reward_mean": float(np.mean([r["reward"] for r in rows])),
            "best_win_rate": float(np.mean([max(x["win_rate"]) for x in labels])),
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
            if self.config.logging.tensorboard:
                scalars = {f"iteration/{k}": v for k, v in metrics.items() if _is_number(v)}
                self.accelerator.log(scalars, step=t)
            if "exploitability" in metrics:
                print(
                    f"iteration {t}: exploitability {metrics['exploitability']:.4f} ± "
                    f"{metrics['exploitability_stderr']:.4f} (unrecognised answers "
                    f"{metrics['unrecognised_rate']:.0%})",
                    flush=True,
                )

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
        conversations = []
        for i in range(cfg.env.episodes_per_iteration):
            options = cfg.env.reset_options
            opts = dict(options[i % len(options)]) if options else None
            _, infos = self.env.reset(seed=derive_seed(cfg.run.seed, "warm-start", i), options=opts)
            conversations.append(infos["player_0"]["messages"])
        answers = cfg.warm_start.answers
        examples = [
            Example(conversation=c, answer=answers[i % len(answers)])
            for i, c in enumerate(conversations)
        ]
        # Full-batch steps: one global batch holds every example, repeated warm_start.steps times.
        n_proc = self.accelerator.num_processes
        settings = TrainConfig(
            learning_rate=cfg.warm_start.learning_rate,
            epochs=cfg.warm_start.steps,
            batch_size=math.ceil(len(examples) / n_proc),
            lr_schedule="constant",
            optimizer=cfg.train.optimizer,
        )
        bar = progress_bar(self.show, "warm start", "step")
        model, _ = self._optimise(
            policy.model,
            examples,
            supervised_loss(policy),
            settings,
            0,
            iteration_dir(self.out, 0) / "train_state",
            "warm_start",
            bar,
        )
        bar.close()
        self._save_model(model, iteration_dir(self.out, 0))
        if self.is_main:
            shutil.rmtree(iteration_dir(self.out, 0) / "train_state", ignore_errors=True)
        self.accelerator.free_memory()

    # ------------------------------------------------------------------ metrics files
    def _iteration_metrics(self) -> list[dict[str, Any]]:
        out = []
        for t in range(1, self.config.run.iterations + 1):
            path = iteration_dir(self.out, t) / "metrics.json"
            if path.exists():
                out.append(json.loads(path.read_text(encoding="utf-8")))
        return out

    def _write_metric_files(self) -> None:
        write_jsonl(self.out / "iterations.jsonl", self._iteration_metrics())
        steps = []
        for t in range(1, self.config.run.iterations + 1):
            path = iteration_dir(self.out, t) / "train_steps.jsonl"
            if path.exists():
                steps.extend(read_jsonl(path))
        write_jsonl(self.out / "steps.jsonl", steps)


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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_text_env(config: TrainingConfig) -> bool:
    """Whether ``env.id`` builds a text env when made without an oracle (False if it fails)."""
    import ompo_envs
    from ompo_envs.text import TextPreferenceGameEnv

    try:
        env = ompo_envs.make(config.env.id, **config.env.options)
    except Exception:
        return False
    return isinstance(getattr(env, "unwrapped", env), TextPreferenceGameEnv)


#: Output file (under ``data/``) of each chunked stage.
_OUTPUT = {"generate": "rollouts", "judge": "labels", "score": "logprobs"}
