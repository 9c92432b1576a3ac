"""``[logging] trackers``: TensorBoard, W&B (offline) and trackio (local) receive the scalars of
``RUN/steps.jsonl`` and ``RUN/iterations.jsonl``, each step once across a resume, no secrets."""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.conftest import TINY, oracle_log, run_cli
from tests.training.oracles import counting_rps_oracle
from training.config import ConfigError, LoggingConfig, from_dict
from training.trackers import RunTrackers, loggable_config, tracker_steps

SECRET = "sk-test-SECRET-4242"


def keyed_rps_oracle(api_key: str, batch_size: int = 4):
    """The tests' RPS oracle behind an ``api_key`` option, to show the key is never logged."""
    if api_key != SECRET:
        raise ValueError("keyed_rps_oracle: wrong api_key")
    return counting_rps_oracle(batch_size)


# ---------------------------------------------------------------------------------------- units
def test_loggable_config_drops_credentials_at_any_depth():
    config = {
        "oracle": {"options": {"api_key": "x", "nested": {"HF_TOKEN": "y", "n": 2}}, "kind": "a"},
        "run": {"name": "r", "tags": ["a", "b"], "apiKey": "w", "db-password": "v"},
        "generation": {"max_new_tokens": 4},
        "auth": {"user": "z"},
    }
    assert loggable_config(config) == {
        "oracle.options.nested.n": 2,
        "oracle.kind": "a",
        "run.name": "r",
        "run.tags": '["a", "b"]',
        "generation.max_new_tokens": 4,
    }


def test_tracker_steps_strictly_increase_with_an_extra_step_per_iteration():
    # n = (2, 0, 3): iteration 1 steps at 1, 2, its metrics at 3; iteration 2's at 4; ...
    assert tracker_steps([2, 0, 3]) == [0, 3, 4, 8]
    with pytest.raises(ValueError, match=">= 0"):
        tracker_steps([-1])


def test_tensorboard_true_is_an_alias_and_bad_names_are_refused():
    base = {"model": {"path": "tiny"}, "env": {"id": "TextRockPaperScissors-v0"}}
    assert LoggingConfig(tensorboard=True).active_trackers == ("tensorboard",)
    both = LoggingConfig(trackers=("wandb", "tensorboard"), tensorboard=True)
    assert both.active_trackers == ("wandb", "tensorboard")
    with pytest.raises(ConfigError, match=r"logging\.trackers\[0\] = 'mlflow'"):
        from_dict({**base, "logging": {"trackers": ["mlflow"]}})
    with pytest.raises(ConfigError, match=r"logging\.project"):
        from_dict({**base, "logging": {"trackers": ["wandb"], "project": " "}})


# ---------------------------------------------------------------------------------------- a run
def _wandb_history(run_dir: Path) -> list[dict[str, float]]:
    """The history rows of every offline W&B run file under ``run_dir``, in file order.

    A ``.wandb`` file is a 7-byte header (``:W&B``, magic, version) then LevelDB-log records
    (32 KiB blocks; each chunk: CRC, length, type FULL/FIRST/MIDDLE/LAST) holding wandb's own
    ``Record`` protobufs, which wandb's ``wandb_internal_pb2`` decodes.
    """
    from wandb.proto import wandb_internal_pb2

    rows = []
    for path in sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb")):
        data = path.read_bytes()
        assert data[:4] == b":W&B"
        position, pending = 7, b""
        while position + 7 <= len(data):
            left = 32768 - position % 32768
            if left < 7:  # a block's tail too short for a chunk header is padding
                position += left
                continue
            _, length, kind = struct.unpack("<IHB", data[position : position + 7])
            pending += data[position + 7 : position + 7 + length]
            position += 7 + length
            if kind in (1, 4):  # FULL or LAST: a whole record
                record = wandb_internal_pb2.Record()
                record.ParseFromString(pending)
                pending = b""
                if record.WhichOneof("record_type") == "history":
                    row = {
                        item.key or "/".join(item.nested_key): json.loads(item.value_json)
                        for item in record.history.item
                    }
                    rows.append(
                        {k: v for k, v in row.items() if not k.startswith("_")}
                        | {"step": record.history.step.num}
                    )
    return rows


def _trackio_history(trackio_dir: Path, project: str, run: str) -> list[dict[str, float]]:
    """trackio's logged rows, read through its own storage API in a fresh process (trackio
    reads ``TRACKIO_DIR`` once, at import)."""
    code = (
        "import json, sys\n"
        "from trackio.sqlite_storage import SQLiteStorage\n"
        "rows = SQLiteStorage.get_logs(sys.argv[1], sys.argv[2])\n"
        "print(json.dumps([{k: v for k, v in r.items() if k != 'timestamp'} for r in rows]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, project, run],
        env={**os.environ, "TRACKIO_DIR": str(trackio_dir)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _tensorboard_history(run_dir: Path) -> list[dict[str, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rows: dict[int, dict[str, float]] = {}
    for events in (run_dir / "tensorboard").glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            for event in accumulator.Scalars(tag):
                row = rows.setdefault(event.step, {"step": event.step})
                assert tag not in row, f"{tag} logged twice at step {event.step}"
                row[tag] = event.value
    return [rows[s] for s in sorted(rows)]


def _expected_rows(run_dir: Path) -> list[dict[str, float]]:
    """What the trackers must hold: steps.jsonl under train/ and iterations.jsonl under
    iteration/, on the step axis of training.trackers (NaN values are not logged)."""
    iterations = [json.loads(x) for x in (run_dir / "iterations.jsonl").read_text().splitlines()]
    steps = [json.loads(x) for x in (run_dir / "steps.jsonl").read_text().splitlines()]
    counts = [sum(1 for s in steps if s["iteration"] == t) for t in range(1, len(iterations))]
    axis = tracker_steps(counts)
    rows = []
    for metrics in iterations:
        t = int(metrics["iteration"])
        rows += [
            {f"train/{k}": v for k, v in s.items()} | {"step": axis[t - 1] + int(s["step"])}
            for s in steps
            if t and s["iteration"] == t
        ]
        rows.append({f"iteration/{k}": v for k, v in metrics.items()} | {"step": axis[t]})
    return [
        {k: v for k, v in r.items() if not (isinstance(v, float) and math.isnan(v))} for r in rows
    ]


def _same_rows(logged, expected, tolerance):
    assert [r["step"] for r in logged] == [r["step"] for r in expected]
    for got, want in zip(logged, expected, strict=True):
        assert set(got) == set(want), (got, want)
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=tolerance, abs=tolerance), key


def test_every_tracker_holds_the_jsonl_scalars_once_across_a_resume(tmp_path):
    pytest.importorskip("wandb")
    pytest.importorskip("trackio")
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    trackio_dir = tmp_path / "trackio"
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "TRACKIO_DIR": str(trackio_dir)}
    settings = [
        "warm_start.steps=2",  # short, few saved chunks: this test is about the logs
        "env.episodes_per_iteration=4",
        "resume.episodes_per_chunk=8",
        "resume.rows_per_chunk=64",
        "resume.checkpoint_every=100",
        'logging.trackers=["tensorboard", "wandb", "trackio"]',
        'logging.project="ompo-tests"',
        'logging.run_name="tiny-trackers"',
        'oracle.factory="tests.training.test_trackers:keyed_rps_oracle"',
        f'oracle.options={{api_key = "{SECRET}"}}',
    ]
    first = run_cli(out, "run.iterations=1", *settings, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    again = run_cli(out, "--resume", "run.iterations=2", *settings, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    expected = _expected_rows(out)
    assert {int(r["iteration/iteration"]) for r in expected if "iteration/iteration" in r} == {
        0,
        1,
        2,
    }
    # W&B stores float64 JSON, trackio float64; TensorBoard float32.
    _same_rows(_wandb_history(out), expected, 1e-12)
    _same_rows(_trackio_history(trackio_dir, "ompo-tests", "tiny-trackers"), expected, 1e-12)
    _same_rows(_tensorboard_history(out), expected, 1e-6)
    # The resume continued the same W&B run id (two offline files, one id).
    run_files = sorted(out.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(run_files) == 2 and len({p.name for p in run_files}) == 1
    run_id = (out / "tracker_run_id.txt").read_text().strip()
    assert run_files[0].name == f"run-{run_id}.wandb"
    # The API key reached the oracle (it checks it) but no tracker's files.
    for path in [*out.rglob("*"), *trackio_dir.rglob("*")]:
        if path.is_file() and path.name != "config.toml":
            assert SECRET.encode() not in path.read_bytes(), path
    assert oracle_log(out).exists()


# ---------------------------------------------------------------------------------------- errors
def test_a_missing_tracker_package_is_refused_before_the_run_folder_exists(
    tmp_path, monkeypatch, capsys
):
    from training.cli import main

    monkeypatch.setitem(sys.modules, "trackio", None)  # what `import trackio` meets uninstalled
    out = tmp_path / "run"
    assert main([str(TINY), "--out", str(out), 'logging.trackers=["trackio"]']) == 2
    assert 'pip install "ompo-envs[trackio]"' in capsys.readouterr().err
    assert not out.exists()


def test_a_tracker_that_cannot_start_says_what_to_do(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "no-such-mode")
    trackers = RunTrackers(["tensorboard", "wandb"], tmp_path, project="p", run_name="r", config={})
    with pytest.raises(ConfigError, match=r"WANDB_MODE=offline.*--resume"):
        trackers.start()
    assert trackers._trackers == []  # the TensorBoard writer started before it was closed


def test_a_resumed_run_sends_no_step_twice(tmp_path):
    """A train stage killed after its checkpoint redoes steps 2 and 3: not sent again."""
    pytest.importorskip("tensorboard")

    def attempt(steps):
        trackers = RunTrackers(["tensorboard"], tmp_path, project="p", run_name="r", config={})
        trackers.start()
        for step in steps:
            trackers.log_train_step(0, {"step": float(step), "loss": float(step) / 10})
        trackers.finish()

    attempt([1, 2, 3])
    attempt([2, 3, 4, 5])
    rows = _tensorboard_history(tmp_path)  # refuses a tag logged twice at one step
    assert [(r["step"], r["train/loss"]) for r in rows] == [
        (s, pytest.approx(s / 10)) for s in range(1, 6)
    ]
    assert (tmp_path / "tracker_step.txt").read_text() == "5\n"
