"""Named points where a test can kill the run with SIGKILL, to prove that ``--resume`` works.

The runner calls :func:`fault_point` at every stage boundary (``iteration_1/judge#done``), after
every saved chunk (``iteration_1/generate#chunk0``) and after every training checkpoint
(``iteration_1/train#step2``). If the environment variable ``OMPO_TRAIN_FAULT`` lists that name
(comma-separated), the process sends itself SIGKILL there — no cleanup, no ``finally`` blocks, as
when a node dies. Unset (always, outside tests), a call costs one dictionary look-up.

Every stage also passes ``<stage>#start`` when it begins, and :func:`last_point` tells which
point the process passed last, so a test's oracle can aim at "the 4th oracle batch of
``iteration_1/judge``" instead of a global batch number — which changes with the answers a
model samples, and so with the processor's numeric kernels.
"""

from __future__ import annotations

import os
import signal

__all__ = ["FAULT_VARIABLE", "fault_point", "last_point"]

FAULT_VARIABLE = "OMPO_TRAIN_FAULT"


_last_point: str | None = None


def fault_point(name: str) -> None:
    """Die by SIGKILL here if ``OMPO_TRAIN_FAULT`` names this point."""
    global _last_point
    _last_point = name
    wanted = os.environ.get(FAULT_VARIABLE)
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)


def last_point() -> str | None:
    """The fault point this process passed last (e.g. ``iteration_1/judge#start``), or None."""
    return _last_point
