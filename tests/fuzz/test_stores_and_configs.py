"""Other engineers' state-changing APIs and settings under generated input (issue 13's promise).

* ``training.storage.AnswerLog`` (ompo-train's persistent oracle answers) and
  ``ompo_envs.openai_client.DiskCache`` (the HTTP client's reply cache): a put either stores
  every item — read back equal, also after reopening from disk — or raises a documented error.
* ``SamplingParams`` and ``OptimizerConfig`` (LM policies and training): constructed with valid
  fields or refused with TypeError / ValueError.

"""

from __future__ import annotations

import math
import tempfile
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.support import fuzz, rejected

KEYS = st.text(max_size=8) | st.sampled_from(("\ud800", "", "k"))
VALUES = st.floats(0, 1) | st.sampled_from((0.5, float("nan"), 2.0, -1.0, "0.5", None, True))


@given(items=st.lists(st.tuples(KEYS, VALUES), max_size=4))
@fuzz(max_examples=150)
def test_answer_log_keeps_what_it_is_given(items):
    pytest.importorskip("accelerate")
    from training.storage import AnswerLog

    with tempfile.TemporaryDirectory() as folder:
        log = AnswerLog(folder)
        try:
            log.put_many(items)
        except Exception as error:
            assert rejected(error), repr(error)
            assert len(log) == 0 and len(AnswerLog(folder)) == 0  # nothing kept, anywhere
            return
        reopened = AnswerLog(folder, rank=1)
        for key, value in dict(items).items():
            assert log.get(key) == value and reopened.get(key) == value


@given(
    key=st.text(max_size=8) | st.sampled_from(("\ud800", 3, None)),
    value=st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.floats(0, 1),
)
@fuzz(max_examples=150)
def test_disk_cache_keeps_what_it_is_given(key, value):
    from ompo_envs.openai_client import DiskCache

    with tempfile.TemporaryDirectory() as folder:
        path = folder + "/cache.sqlite"
        cache = DiskCache(path)
        try:
            cache.put(key, value)
        except Exception as error:
            assert rejected(error), repr(error)
            assert len(cache) == 0
            return
        finally:
            cache.close()
        if isinstance(key, str):
            reopened = DiskCache(path)
            assert reopened.get(key) == value
            reopened.close()


SAMPLING_VALUES = (0, 1, 4, -1, 0.0, 0.5, 1.0, 1.5, float("nan"), True, None, "1")


@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            "num_samples": st.sampled_from(SAMPLING_VALUES),
            "temperature": st.sampled_from(SAMPLING_VALUES),
            "top_p": st.sampled_from(SAMPLING_VALUES),
            "max_new_tokens": st.sampled_from(SAMPLING_VALUES),
            "stop": st.sampled_from(((), ("\n",), ("",), "stop", (1,))),
        },
    )
)
@fuzz(max_examples=300)
def test_sampling_params_are_valid_or_refused(fields):
    from ompo_envs.lm.backends import SamplingParams

    try:
        params = SamplingParams(**fields)
    except Exception as error:
        assert rejected(error), repr(error)
        return
    assert params.num_samples >= 1 and params.max_new_tokens >= 1
    assert math.isfinite(params.temperature) and params.temperature >= 0
    assert 0 < params.top_p <= 1 and all(isinstance(s, str) and s for s in params.stop)


CONFIG_VALUES = (0, 1, 2, -1, 0.0, 0.1, 0.5, 1.0, 1e-7, float("nan"), float("inf"), True, None)


def _optimizer_config(fields: dict[str, Any]) -> Any:
    from ompo_envs.lm.training import OptimizerConfig

    try:
        return OptimizerConfig(**fields)
    except Exception as error:
        assert rejected(error), repr(error)
        return None


CONFIG_FIELDS = {
    name: st.sampled_from(CONFIG_VALUES)
    for name in (
        "learning_rate",
        "epochs",
        "batch_size",
        "gradient_accumulation_steps",
        "warmup_ratio",
        "max_grad_norm",
        "weight_decay",
        "seed",
    )
} | {
    "lr_schedule": st.sampled_from(("constant", "linear", "cosine", "step", None)),
    "optimizer": st.sampled_from(("adamw", "sgd", "adam", None)),
    "dtype": st.sampled_from(("float32", "bfloat16", "float16", "int8")),
}


@given(fields=st.fixed_dictionaries({}, optional=CONFIG_FIELDS))
@fuzz(max_examples=300)
def test_optimizer_configs_are_valid_or_refused(fields):
    config = _optimizer_config(fields)
    if config is None:
        return
    for name in ("epochs", "batch_size", "gradient_accumulation_steps"):
        assert isinstance(getattr(config, name), int) and getattr(config, name) >= 1
    assert math.isfinite(config.learning_rate) and config.learning_rate > 0
    assert 0 <= config.warmup_ratio < 1 and config.seed >= 0
