"""Start ``training.cli`` runs as forked children of one process that has imported everything.

The resume test kills a run a dozen times; starting a fresh interpreter for each attempt spends
most of the test importing torch, transformers and accelerate again. This server imports them
once, then reads one JSON request per line on stdin — ``{"argv": [...], "stdout": PATH,
"stderr": PATH}`` — forks, and lets the child run ``training.cli.main(argv)`` with
its output in those files. The child is a new process that has run nothing of the training run:
a fault point's SIGKILL ends it with no cleanup, exactly as it would end ``python -m
training.cli``. The server answers ``{"returncode": n}`` per request (−9 for SIGKILL, as
``subprocess`` reports it).
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def _preload() -> None:
    import importlib.util

    import accelerate  # noqa: F401
    import safetensors.torch  # noqa: F401
    import transformers.models.llama.modeling_llama  # noqa: F401

    import ompo_envs.lm  # noqa: F401
    import solvers.lm  # noqa: F401
    import training.runner  # noqa: F401

    if importlib.util.find_spec("sentence_transformers") is not None:  # the embedding oracle's
        import sentence_transformers  # noqa: F401


def _child(request: dict) -> int:
    for stream, path in ((1, request["stdout"]), (2, request["stderr"])):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(descriptor, stream)
        os.close(descriptor)
    from training.cli import main

    try:
        return main(request["argv"])
    except SystemExit as error:
        return error.code if isinstance(error.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 70


def serve() -> None:
    _preload()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                code = _child(request)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(json.dumps({"returncode": code}), flush=True)


if __name__ == "__main__":
    serve()
