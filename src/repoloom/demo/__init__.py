"""`repoloom demo` (what `make demo` runs): the whole system on real code, on one machine.

Seven steps, each the library call its own command makes (no second implementation):

1. ``fetch``     pinned real repositories from PyPI, npm and Debian (``repoloom corpus fetch``);
                 whole repositories are held out (default ``click``) and never enter the corpus.
2. ``corpus``    the repository-level corpus of the others (``repoloom corpus build``), then a
                 check that no held-out file is inside a training sample.
3. ``tokenizer`` a byte-level BPE with DeepSeek-Coder's splits and special tokens
                 (``repoloom tokenizer train``).
4. ``tokenize``  FIM (PSM, rate 0.5) and packed token shards (``repoloom tokenize``).
5. ``train``     the ``tiny`` model briefly from ``configs/train/tiny.yaml`` (``repoloom train``),
                 exported as a Hugging Face checkpoint.
6. ``eval``      single- and multi-line infilling on held-out files through the evaluation
                 harness (``repoloom.evaluate.heldout_build``, the points of ``repoloom eval build-heldout``):
                 exact match, edit similarity, loss of the true span, before (the model at
                 initialisation: same config and seed, no step) and after training.
7. ``serve``     ``repoloom serve`` in a subprocess; a held-out line completed through
                 ``/v1/completions`` (prompt + suffix) and ``/infill`` (with repository context).

Every step writes under ``--out`` and records its settings in ``OUT/.demo/STEP.json``; a rerun
reuses a finished step whose settings (and inputs) are unchanged, resumes an interrupted corpus
build, tokenization or training run, and redoes a step whose settings changed. ``--steps``
runs a subset (the others must have run before), ``--fresh`` starts over (keeps the download).

Layout: ``steps`` (the run: a plain list of step functions over the demo state), ``state`` (that
state and the per-step stamps), ``work`` (what the steps call: training, evaluation, printing),
``cli`` (the arguments).
"""

from repoloom.demo.cli import cmd_demo, register
from repoloom.demo.state import DEFAULT_HELDOUT, SERVE_WINDOW, STEPS

__all__ = ["DEFAULT_HELDOUT", "SERVE_WINDOW", "STEPS", "cmd_demo", "register"]
