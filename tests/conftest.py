"""Test-wide settings: offline, one thread per library (CI has 2 cores; more threads stall).

They are set here, not by whoever runs the tests, so that README's test command passes as
written on a fresh machine. A variable already set by the caller is kept: that is how the
suite is rerun under another thread count or a forced numeric kernel (``OPENBLAS_CORETYPE``,
``ATEN_CPU_CAPABILITY``; README, "Numbers on any CPU").
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

# A BLAS loaded before this file ran (by a plugin) read its thread count already: limit it too.
from threadpoolctl import threadpool_limits  # noqa: E402

_BLAS_THREADS = threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")

try:
    import torch
except ImportError:  # torch is an optional extra
    torch = None

if torch is not None:
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


#: Tests whose numbers depend on floating-point kernels (BLAS, torch's CPU paths, summation
#: order). ``.ci/run`` runs them a second time under another processor's kernels
#: (``python -m pytest -m numerics`` with ``OPENBLAS_CORETYPE`` and ``ATEN_CPU_CAPABILITY`` set).
NUMERICS_SENSITIVE = (
    "tests/tabular/",
    "tests/solvers/",
    "tests/lm/",
    "tests/text/test_known_ne.py",
    "tests/text/test_lifted.py",
    "tests/training/test_resume.py",
    "tests/training/test_distributed.py",
    "tests/training/test_methods.py",
)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "numerics: depends on floating-point kernels; rerun under another kernel in CI"
    )


def pytest_collection_modifyitems(config, items):
    root = config.rootpath
    for item in items:
        relative = item.path.relative_to(root).as_posix()
        if relative.startswith(NUMERICS_SENSITIVE):
            item.add_marker("numerics")
