"""Shared pieces of the ompo-train tests: the tiny config, a CLI runner, one reference run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = Path(__file__).with_name("tiny.toml")
ORACLE_LOG = "OMPO_TEST_ORACLE_LOG"


def oracle_log(out: Path) -> Path:
    """Where the counting oracle of the run in ``out`` logs its batches."""
    return out.parent / f"{out.name}-oracle.jsonl"


def run_cli(
    out: Path, *args: str, env: dict[str, str] | None = None, launcher: list[str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m training.cli tests/training/tiny.toml --out OUT ARGS`` in a subprocess."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        ORACLE_LOG: str(oracle_log(out)),
        **(env or {}),
    }
    command = [*(launcher or [sys.executable]), "-m", "training.cli", str(TINY), "--out", str(out)]
    return subprocess.run(
        [*command, *args],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class ForkingRunner:
    """Runs ``training.cli`` attempts as forked children of one prepared process.

    ``tests/training/fork_server.py`` imports torch, transformers, accelerate and the package
    once; each :meth:`run` is then a new process (a fork that has run nothing of the training
    run) doing what ``python -m training.cli tests/training/tiny.toml --out OUT ARGS`` does (or
    ``config`` in place of tiny.toml), and dying by SIGKILL at a fault point just as that
    command would — without paying the imports again. Use as a context manager.
    """

    def __init__(self, out: Path, env: dict[str, str] | None = None, config: Path = TINY) -> None:
        self.out = out
        self.config = config
        environment = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            ORACLE_LOG: str(oracle_log(out)),
            **(env or {}),
        }
        self.server = subprocess.Popen(
            [sys.executable, "-m", "tests.training.fork_server"],
            env=environment,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """One attempt; its exit status (−9 after SIGKILL) and output, as ``run_cli`` gives."""
        logs = self.out.parent / f"{self.out.name}-attempt"
        request = {
            "argv": [str(self.config), "--out", str(self.out), *args],
            "stdout": f"{logs}.out",
            "stderr": f"{logs}.err",
        }
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        reply = self.server.stdout.readline()
        if not reply:
            raise RuntimeError(f"the fork server died (exit status {self.server.wait()})")
        return subprocess.CompletedProcess(
            request["argv"],
            json.loads(reply)["returncode"],
            Path(request["stdout"]).read_text(encoding="utf-8"),
            Path(request["stderr"]).read_text(encoding="utf-8"),
        )

    def __enter__(self) -> ForkingRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stdin.close()
        self.server.wait(timeout=60)


def run_in_process(out: Path, *args: str) -> int:
    """Run the CLI in this process (with the counting oracle's log beside ``out``)."""
    from training.cli import main

    before = os.environ.get(ORACLE_LOG)
    os.environ[ORACLE_LOG] = str(oracle_log(out))
    try:
        return main([str(TINY), "--out", str(out), *args])
    finally:
        if before is None:
            del os.environ[ORACLE_LOG]
        else:
            os.environ[ORACLE_LOG] = before


def weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(folder / "model.safetensors")


def max_weight_difference(a: Path, b: Path) -> float:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    return max(float(np.max(np.abs(wa[k].astype(np.float64) - wb[k]))) for k in wa)


def read_rows(path: Path) -> list:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted run of tests/training/tiny.toml, shared by the resume and error tests."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert run_in_process(out) == 0
    return out
