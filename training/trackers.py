"""Experiment trackers of a run: TensorBoard, Weights & Biases and trackio, one step axis.

``[logging] trackers = ["tensorboard", "wandb", "trackio"]`` (``tensorboard = true`` is the old
spelling of ``"tensorboard"``) sends the metrics of ``RUN/steps.jsonl`` (under ``train/``) and of
``RUN/iterations.jsonl`` (under ``iteration/``) to each tracker through accelerate's tracker
classes (:mod:`accelerate.tracking`), on the main process only:

- ``tensorboard``: event files in ``RUN/tensorboard``;
- ``wandb``: ``wandb.init(project, name, dir=RUN, id, resume="allow")``, files in ``RUN/wandb``;
  ``WANDB_MODE=offline`` writes the run there without network (``wandb sync`` uploads it);
- ``trackio``: ``trackio.init(project, name, resume="allow")`` into trackio's local SQLite
  database under ``TRACKIO_DIR`` (default ``~/.cache/huggingface/trackio``); no dashboard is
  launched and, without a Space or server URL, nothing leaves the machine.

One step axis serves every tracker, since W&B drops a step lower than one already logged:
with n_s optimiser steps in iteration s, step k of iteration t is logged at
``S_{t-1} + k`` and iteration t's metrics at ``S_t = Σ_{s≤t} (n_s + 1)`` (``S_0 = 0``: the warm
start's iteration 0), so the axis strictly increases and ``iteration/iteration`` gives t.

The resolved config goes to each tracker as its hyperparameters, less every key whose name
says it holds a credential (:data:`SECRET_WORDS`), at any depth; W&B's system metadata (which
holds the command line) is off when a command-line argument has such a word.

Resuming: ``RUN/tracker_step.txt`` holds the last step sent, and a resumed run sends only later
steps, so the steps that a train stage killed after its last checkpoint redoes (identically) are
not sent twice; only a kill between sending a step and recording it repeats that one point. W&B
continues the same run id (``RUN/tracker_run_id.txt``). A tracker added on ``--resume`` gets the
steps from then on.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from training.config import ConfigError
from training.storage import atomic_write_text

__all__ = ["SECRET_WORDS", "SENT_FILE", "RunTrackers", "loggable_config", "tracker_steps"]

#: A config key with one of these words in its name (words split at ``_``, ``-``, ``.``, any
#: case: ``api_key``, ``HF_TOKEN``; not ``max_new_tokens``) is never sent to a tracker.
SECRET_WORDS = ("key", "apikey", "token", "secret", "password", "passwd", "credential", "auth")

#: The last step sent to the trackers, in the run folder: a resumed run sends only later ones.
SENT_FILE = "tracker_step.txt"


def _names_a_secret(text: str) -> bool:
    return any(word in SECRET_WORDS for word in re.split(r"[^a-z0-9]+", text.lower()))


def loggable_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``{section.key[.subkey...]: value}`` for trackers, without credential keys.

    Nested tables are flattened with dots; lists become JSON text (TensorBoard takes only
    scalars and strings as hyperparameters). A key whose name matches :data:`SECRET_WORDS` is
    dropped with everything under it.
    """
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not _names_a_secret(str(key)):
                    walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, bool | int | float | str):
            flat[prefix] = value
        else:
            flat[prefix] = json.dumps(value, default=str)

    walk("", config)
    return flat


def tracker_steps(steps_per_iteration: Sequence[int]) -> list[int]:
    """Return ``[S_0, S_1, ...]`` with ``S_t = Σ_{s≤t} (n_s + 1)`` and ``S_0 = 0``.

    ``steps_per_iteration[s - 1]`` is n_s. Step k of iteration t is logged at ``S_{t-1} + k``.
    """
    out = [0]
    for n in steps_per_iteration:
        if n < 0:
            raise ValueError(f"steps_per_iteration must be >= 0, got {list(steps_per_iteration)}")
        out.append(out[-1] + n + 1)
    return out


class RunTrackers:
    """The trackers of one run (none when ``names`` is empty or on a non-main process).

    Args:
        names: Trackers to use, from ``("tensorboard", "wandb", "trackio")``.
        out: The run folder.
        project: The W&B / trackio project.
        run_name: The run's name in the trackers.
        config: The resolved config as ``{section: {key: value}}`` (credentials are dropped).
        enabled: False on the non-main processes of a distributed run.
    """

    def __init__(
        self,
        names: Sequence[str],
        out: Path,
        *,
        project: str,
        run_name: str,
        config: Mapping[str, Any],
        enabled: bool = True,
    ) -> None:
        unknown = sorted(set(names) - {"tensorboard", "wandb", "trackio"})
        if unknown:
            raise ValueError(f"unknown trackers {unknown}: use tensorboard, wandb or trackio")
        self.names = tuple(names) if enabled else ()
        self.out = Path(out)
        self.project = project
        self.run_name = run_name
        self.config = loggable_config(config)
        self._trackers: list[Any] = []
        self._sent = -1  # the last step sent to the trackers (RUN/tracker_step.txt)

    def check_installed(self) -> None:
        """Raise before anything is written if a tracker's package is missing.

        Raises:
            ConfigError: The package of a tracker in ``logging.trackers`` cannot be imported.
        """
        for name in self.names:
            try:
                importlib.import_module(name)
            except ImportError as error:
                raise ConfigError(
                    f"logging.trackers has {name!r} but {name} cannot be imported ({error}): "
                    f'pip install "ompo-envs[{name}]", or remove it from logging.trackers'
                ) from error

    def start(self) -> None:
        """Start every tracker and store the config as its hyperparameters.

        Raises:
            ConfigError: A tracker failed to start (e.g. W&B online without a login); the
                trackers started before it are closed.
        """
        sent = self.out / SENT_FILE
        if self.names and sent.exists():
            self._sent = int(sent.read_text(encoding="utf-8"))
        for name in self.names:
            try:
                self._trackers.append(self._start(name))
            except Exception as error:
                self.finish()
                raise ConfigError(
                    f"logging.trackers: {name} could not start ({type(error).__name__}: "
                    f"{error}). For W&B without network set WANDB_MODE=offline, or log in "
                    "with `wandb login`; or remove it from logging.trackers. Then continue "
                    "the run with --resume"
                ) from error

    def _start(self, name: str) -> Any:
        from accelerate.tracking import TensorBoardTracker, TrackioTracker, WandBTracker

        if name == "tensorboard":
            tracker = TensorBoardTracker("tensorboard", self.out)
            tracker.start()
            tracker.store_init_configuration(self.config)
            return tracker
        if name == "wandb":
            import wandb

            # W&B's system metadata includes the command line, where an override such as
            # oracle.options={api_key=...} would show: off when an argument names a secret.
            hide = any(_names_a_secret(argument) for argument in sys.argv[1:])
            tracker = WandBTracker(
                self.project,
                name=self.run_name,
                dir=str(self.out),
                id=self._run_id(),
                resume="allow",
                config=self.config,
                settings=wandb.Settings(x_disable_meta=True) if hide else None,
            )
        else:
            tracker = TrackioTracker(
                self.project,
                name=self.run_name,
                resume="allow",
                config=self.config,
                embed=False,
                auto_log_cpu=False,
                auto_log_gpu=False,
            )
        tracker.start()
        return tracker

    def log_train_step(self, offset: int, metrics: Mapping[str, float]) -> None:
        """Log one optimiser step's metrics (keys ``train/…``) at ``offset + metrics["step"]``.

        ``offset`` is ``S_{t-1}`` of :func:`tracker_steps`.
        """
        values = {f"train/{k}": v for k, v in metrics.items() if _is_number(v)}
        self._log(values, offset + int(metrics["step"]))

    def log_iteration(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Log one iteration's numeric metrics (keys ``iteration/…``) at ``step`` (``S_t``)."""
        self._log({f"iteration/{k}": v for k, v in metrics.items() if _is_number(v)}, step)

    def finish(self) -> None:
        """Close every tracker (flushes TensorBoard, ends the W&B and trackio runs)."""
        for tracker in self._trackers:
            tracker.finish()
        self._trackers = []

    def _log(self, values: dict[str, float], step: int) -> None:
        if not self._trackers or step <= self._sent:
            return  # sent before a kill or by the run that this one resumes
        for tracker in self._trackers:
            tracker.log({k: float(v) for k, v in values.items()}, step=step)
        self._sent = step
        atomic_write_text(self.out / SENT_FILE, f"{step}\n")

    def _run_id(self) -> str:
        """The run's W&B id, made once and kept in ``RUN/tracker_run_id.txt`` for resumes."""
        path = self.out / "tracker_run_id.txt"
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        run_id = uuid.uuid4().hex[:16]
        atomic_write_text(path, run_id + "\n")
        return run_id


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
