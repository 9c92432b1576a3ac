"""Sphinx configuration of the ompo-envs site (Sphinx + furo + MyST-NB, as Gymnasium/PettingZoo).

Build it (every tutorial executed, warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Nothing is fetched while building: no intersphinx, notebooks run on the local kernel.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

# The tutorials run in a Jupyter kernel started from this process: one BLAS/torch thread each
# (2 cores), offline hub, no tokenizer threads, as in the tests.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import ompo_envs  # noqa: E402

project = "ompo-envs"
author = "the ompo-envs developers"
copyright = "the ompo-envs developers"
release = version = ompo_envs.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax served from _static: formulas render offline too
    "sphinx.ext.viewcode",
    "ompo_docs",
]
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "environments/generated/_*"]
templates_path = ["_templates"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
root_doc = "index"

# MyST: $…$ and $$…$$ maths, ::: fences, anchors on headings down to ###.
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# MyST-NB: run every tutorial on every build; a failing cell, a cell over the limit or any
# unexpected stderr output fails the build (stderr becomes a warning, warnings are errors).
nb_execution_mode = "force"
nb_execution_timeout = 120
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_output_stderr = "warn"
nb_merge_streams = True
nb_ipywidgets_js: dict[str, dict] = {}  # no widget JavaScript from a CDN
ompo_tutorial_time_limit = 120

# API reference from the (Google-style) docstrings: one page per module (autosummary, recursive);
# a name is documented in the module that defines it, not again where a package re-exports it.
autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "furo"
html_title = f"ompo-envs {release}"
html_static_path: list[str] = []
