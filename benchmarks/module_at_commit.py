"""Load one source file of this repository as it was at a git commit, as a separate module, so a
benchmark can time the code before a change against the current code in one process."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def module_at_commit(commit: str, relpath: str, name: str) -> ModuleType:
    """``relpath`` (e.g. ``src/repoloom/corpus/screening.py``) at ``commit`` (`git show`),
    imported under ``name``."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:{relpath}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
