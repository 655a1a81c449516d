import os
import textwrap

# Builds with the default config would fetch MBPP/GSM8K from the Hugging Face hub when no local
# copy is named; tests use no network beyond package registries, so the hub is offline here
# (a test of the hub fallback stubs repoloom.benchdata.hub instead).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from pathlib import Path

import pytest


def write_repo(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    return root


PY_REPO = {
    "pkg/__init__.py": "from .core import run\n",
    "pkg/core.py": "from .util import helper\n\n\ndef run():\n    return helper()\n",
    "pkg/util.py": "import os\n\n\ndef helper():\n    return os.getcwd()\n",
    "pkg/cli.py": "from pkg.core import run\n\nif __name__ == '__main__':\n    run()\n",
    "tests/test_core.py": "from pkg.core import run\n\n\ndef test_run():\n    assert run()\n",
    "README.md": "# Demo package\n\nSome documentation text for the package.\n",
    "data.json": '{"short": 1}',
    "setup.cfg": "[metadata]\nname = pkg\n",
    "logo.png": "\x89PNG\x00\x00binary",
}


@pytest.fixture
def py_repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "demo-pkg", PY_REPO)


def make_repos(root: Path, n: int) -> Path:
    """`n` small multi-language repositories under `root` (for executor tests)."""
    for i in range(n):
        write_repo(
            root / f"repo{i:03d}",
            {
                f"m{i}/__init__.py": "",
                f"m{i}/a.py": f"from .b import value\n\nNAME = 'repository number {i}'\n",
                f"m{i}/b.py": f"value = {i}\nlabel = 'value of module b'\n",
                "web/index.js": "const util = require('./util');\nmodule.exports = util.name;\n",
                "web/util.js": f"exports.name = 'utility module {i}';\n",
                "notes.md": f"# Notes {i}\n\nThese are notes about repository {i}.\n",
            },
        )
    return root


def assert_funnel_adds_up(report: dict) -> None:
    """Each stage of report.json's funnel takes what the one before kept and drops what it says;
    the last stage's output is the count of files kept."""
    previous = report["files_in"]
    for step in report["steps"]:
        assert step["in"] == previous, step
        assert step["in"] - sum(step["dropped"].values()) == step["out"], step
        previous = step["out"]
    assert previous == report["files_kept"]
