"""``ompo-bench tutorial-spread`` and the numeric environment every benchmark JSON records."""

from __future__ import annotations

import json

import pytest

from benchmarks import cli
from benchmarks.environment import alternative_kernels, describe, numeric_environment
from benchmarks.tutorial_spread import code_cells, reseed, run_tutorial, spread

TUTORIAL = """# A tutorial

```{code-cell} ipython3
%matplotlib inline
import numpy as np
rng = np.random.default_rng(3)
value = float(rng.uniform()) + 0 * len(str(dict(seed=0)))
```

```{code-cell} ipython3
:tags: [remove-cell]
assert 0 <= value < 1  # a hidden check with two comparisons
assert value > 2
```

```{code-cell} ipython3
---
tags: [hide-cell]
---
shown = value * 2
```
"""


def test_cells_are_read_in_order_with_hidden_ones_marked():
    cells = code_cells(TUTORIAL)
    assert [hidden for hidden, _ in cells] == [False, True, False]
    assert "%matplotlib" not in cells[0][1] and cells[2][1].strip() == "shown = value * 2"


def test_reseed_shifts_every_literal_seed():
    source = "f(seed=0, rng=np.random.default_rng(1)); g(seed=12)"
    assert reseed(source, 0) == source
    assert reseed(source, 2) == "f(seed=2, rng=np.random.default_rng(2001)); g(seed=14)"


def test_hidden_asserts_are_recorded_with_the_values_they_compared(tmp_path):
    path = tmp_path / "tutorial.md"
    path.write_text(TUTORIAL)
    checks = run_tutorial(path, seed=0)
    assert [c["held"] for c in checks] == [True, False]
    value = checks[0]["values"][1]
    assert checks[0]["values"] == [0.0, value, 1.0] and checks[1]["values"] == [value, 2.0]
    other = run_tutorial(path, seed=1)[0]["values"][1]
    assert other != value  # default_rng(3) became default_rng(1003)
    summary = spread([{"checks": checks}, {"checks": run_tutorial(path, seed=1)}])
    first = summary[checks[0]["check"]]
    assert first["held"] == first["runs"] == 2
    assert first["min"][1] == min(value, other) and first["max"][1] == max(value, other)


def test_the_command_runs_each_kernel_in_a_fresh_process_and_fails_on_a_failed_check(
    tmp_path, capsys
):
    path = tmp_path / "tutorial.md"
    path.write_text(TUTORIAL.replace("assert value > 2\n", ""))
    argv = ["tutorial-spread", str(path), "--seeds", "0", "--kernels", "prescott"]
    assert cli.main([*argv, "--out", str(tmp_path / "out")]) == 0
    (report,) = (tmp_path / "out").glob("tutorial-spread__tutorial__*.json")
    run = json.loads(report.read_text())["runs"][0]
    assert run["environment"]["forced"]["OPENBLAS_CORETYPE"] == "Prescott"
    assert run["environment"]["forced"]["ATEN_CPU_CAPABILITY"] == "default"
    path.write_text(TUTORIAL)
    assert cli.main([*argv, "--out", str(tmp_path / "out2")]) == 1
    assert "value > 2" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown kernels"):
        cli.main(["tutorial-spread", str(path), "--kernels", "sse9"])


def test_the_numeric_environment_names_the_kernels_and_versions():
    import numpy  # noqa: F401

    environment = numeric_environment()
    json.dumps(environment)  # JSON-able
    blas = [lib for lib in environment["blas"] if lib["user_api"] == "blas"]
    assert blas and blas[0]["architecture"] and environment["versions"]["numpy"]
    assert environment["cpu"] and "BLAS openblas" in describe(environment)
    assert describe(None) == "numeric environment not recorded"


def test_the_alternative_kernels_step_down_one_generation():
    assert alternative_kernels("AVX512") == ("avx2", "avx2", "Haswell")
    assert alternative_kernels("AVX2") == ("default", "default", "Sandybridge")
    assert alternative_kernels("DEFAULT") == ("prescott", "default", "Prescott")
