"""The numeric environment a benchmark ran in, recorded beside its numbers.

The same code can give different low-order bits on another processor: OpenBLAS picks a kernel
per CPU (``OPENBLAS_CORETYPE`` forces one), torch picks a vectorised path per CPU
(``ATEN_CPU_CAPABILITY`` forces one), and the number of threads changes how a sum is split.
Every JSON a benchmark writes carries :func:`numeric_environment` under ``"environment"``, so
a committed figure says where it came from, and a rerun elsewhere knows which differences to
expect (README, "Numbers on any CPU").
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

#: Variables that force a kernel or a thread count; recorded when set.
FORCING_VARIABLES = (
    "OPENBLAS_CORETYPE",
    "ATEN_CPU_CAPABILITY",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)

#: Named kernel settings: (``ATEN_CPU_CAPABILITY``, ``OPENBLAS_CORETYPE``), the kernels of
#: processor generations from AVX-512 down to SSE3, which an AVX-512 machine can all run.
KERNELS = {
    "avx512": ("avx512", "SkylakeX"),
    "avx2": ("avx2", "Haswell"),
    "default": ("default", "Sandybridge"),
    "prescott": ("default", "Prescott"),
}

#: Libraries whose version can change a result's bits.
LIBRARIES = ("numpy", "scipy", "torch", "transformers", "threadpoolctl")


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_libraries() -> list[dict[str, Any]]:
    """Each loaded BLAS/OpenMP library: its API, kernel ("architecture") and thread count."""
    import numpy  # noqa: F401  (loads numpy's OpenBLAS, so that it is listed)

    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # a dependency of the package; absent only in odd installs
        return []
    keys = ("user_api", "internal_api", "architecture", "num_threads", "version")
    return [{key: info.get(key) for key in keys} for info in threadpool_info()]


def torch_capability() -> str | None:
    """The vectorised path torch's CPU kernels use ("AVX512", "AVX2", "DEFAULT"), if loaded."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return str(torch.backends.cpu.get_cpu_capability())


def numeric_environment() -> dict[str, Any]:
    """What decides the low-order bits of this process's numbers, as a JSON-able dict.

    Keys: ``cpu`` (model name), ``machine`` (architecture), ``cpu_count``, ``blas`` (every
    loaded BLAS/OpenMP library with its kernel and threads), ``torch_capability`` (None when
    torch was not imported), ``torch_threads``, ``forced`` (the kernel and thread variables
    that are set) and ``versions`` (Python and the numeric libraries installed).
    """
    torch = sys.modules.get("torch")
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "blas": blas_libraries(),
        "torch_capability": torch_capability(),
        "torch_threads": None if torch is None else int(torch.get_num_threads()),
        "forced": {name: os.environ[name] for name in FORCING_VARIABLES if name in os.environ},
        "versions": versions,
    }


def describe(environment: dict[str, Any] | None) -> str:
    """One line for a report: CPU, BLAS kernel, torch path and threads (or "not recorded")."""
    if not environment:
        return "numeric environment not recorded"
    kernels = ", ".join(
        f"{lib.get('internal_api')} {lib.get('architecture')} ×{lib.get('num_threads')}"
        for lib in environment.get("blas", [])
        if lib.get("user_api") == "blas"
    )
    torch_path = environment.get("torch_capability") or "torch not loaded"
    return f"{environment.get('cpu')}; BLAS {kernels or 'unknown'}; torch {torch_path}"


def alternative_kernels(capability: str | None = None) -> tuple[str, str, str]:
    """Another processor generation's kernels this machine can run, to replay numbers under.

    Torch can only step *down* from its native path, so: native AVX-512 → AVX2 with OpenBLAS's
    Haswell kernel; native AVX2 → torch's default path with Sandybridge; otherwise the default
    path with Prescott (only the BLAS kernel changes). Returns (name, ``ATEN_CPU_CAPABILITY``,
    ``OPENBLAS_CORETYPE``), the name a key of :data:`KERNELS`.
    """
    if capability is None:
        import torch

        capability = str(torch.backends.cpu.get_cpu_capability())
    capability = capability.upper()
    if capability.startswith("AVX512"):
        name = "avx2"
    elif capability == "AVX2":
        name = "default"
    else:
        name = "prescott"
    return (name, *KERNELS[name])


if __name__ == "__main__":
    import json
    import sys

    if sys.argv[1:] == ["--alternative"]:  # for .ci/run: NAME CAPABILITY CORETYPE
        print(*alternative_kernels())
    else:
        print(json.dumps(numeric_environment(), indent=1))
