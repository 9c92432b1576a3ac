"""Named points where a test can kill the run with SIGKILL, to prove that ``--resume`` works.

The runner calls :func:`fault_point` at every stage boundary (``iteration_1/judge#done``), after
every saved chunk (``iteration_1/generate#chunk0``) and after every training checkpoint
(``iteration_1/train#step2``). If the environment variable ``OMPO_TRAIN_FAULT`` lists that name
(comma-separated), the process sends itself SIGKILL there — no cleanup, no ``finally`` blocks, as
when a node dies. Unset (always, outside tests), a call costs one dictionary look-up.
"""

from __future__ import annotations

import os
import signal

__all__ = ["FAULT_VARIABLE", "fault_point"]

FAULT_VARIABLE = "OMPO_TRAIN_FAULT"


def fault_point(name: str) -> None:
    """Die by SIGKILL here if ``OMPO_TRAIN_FAULT`` names this point."""
    wanted = os.environ.get(FAULT_VARIABLE)
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
