"""Python import resolution on small hand-written repositories."""

from __future__ import annotations

from ._deps import edges, parse_dir, write_repo


def test_relative_imports(tmp_path):
    e = edges(
        tmp_path,
        {
            "pkg/__init__.py": "from . import a\n",
            "pkg/a.py": "from .b import thing\nfrom .sub.c import f\n",
            "pkg/b.py": "thing = 1\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/c.py": "from .. import b\nfrom ..b import thing\nfrom . import d\n",
            "pkg/sub/d.py": "from ...outside import x\n",  # above the root: unresolved
        },
    )
    assert e == {
        ("pkg/__init__.py", "pkg/a.py"),
        ("pkg/a.py", "pkg/b.py"),
        ("pkg/a.py", "pkg/sub/c.py"),
        ("pkg/sub/c.py", "pkg/b.py"),
        ("pkg/sub/c.py", "pkg/sub/d.py"),
    }


def test_absolute_imports_and_from_import_of_names(tmp_path):
    e = edges(
        tmp_path,
        {
            "app/__init__.py": "VERSION = 1\n",
            "app/core.py": "import app.util\nimport app.models.user as u\nfrom app import VERSION\n",
            "app/util.py": "",
            "app/models/__init__.py": "",
            "app/models/user.py": "from app.models import user, missing_name\n",
        },
    )
    assert e == {
        ("app/core.py", "app/util.py"),
        ("app/core.py", "app/models/user.py"),
        ("app/core.py", "app/__init__.py"),  # VERSION is a name of the package
        ("app/models/user.py", "app/models/__init__.py"),  # missing_name -> the package
    }


def test_src_layout_and_script_directory(tmp_path):
    e = edges(
        tmp_path,
        {
            "src/lib/__init__.py": "",
            "src/lib/x.py": "from lib import y\n",
            "src/lib/y.py": "",
            "tests/test_x.py": "import lib.x\nimport helpers\n",
            "tests/helpers.py": "",
            "pyproject.toml": "[project]\nname='lib'\n",
        },
    )
    assert ("src/lib/x.py", "src/lib/y.py") in e
    assert ("tests/test_x.py", "src/lib/x.py") in e
    assert ("tests/test_x.py", "tests/helpers.py") in e  # sys.path[0] is the script's directory


def test_stdlib_third_party_comments_and_strings_do_not_count(tmp_path):
    res = parse_dir(
        write_repo(
            tmp_path,
            {
                "m/__init__.py": "",
                "m/a.py": (
                    "import os, sys\nimport numpy as np\nfrom collections import OrderedDict\n"
                    "# import m.b\n"
                    "s = 'import m.b'\n"
                    '"""\nfrom m import b\n"""\n'
                    "def f():\n    return 'from m import b'\n"
                ),
                "m/b.py": "",
            },
        )
    )
    assert res.edges == []
    assert res.per_language["python"]["statements"] == 4  # os, sys, numpy, collections
    assert res.per_language["python"]["resolved"] == 0


def test_multiline_parenthesised_and_backslash_imports(tmp_path):
    e = edges(
        tmp_path,
        {
            "p/__init__.py": "",
            "p/a.py": (
                "from p import (\n    b,\n    c as cc,  # comment\n)\nimport p.d, \\\n    p.e\n"
                "from . import import_helper\n"
            ),
            "p/import_helper.py": "",
            "p/b.py": "",
            "p/c.py": "",
            "p/d.py": "",
            "p/e.py": "",
        },
    )
    assert e == {("p/a.py", f"p/{x}.py") for x in ["b", "c", "d", "e", "import_helper"]}


def test_stub_only_module_and_self_import(tmp_path):
    e = edges(
        tmp_path,
        {
            "q/__init__.py": "import q\nfrom . import stubbed\n",
            "q/stubbed.pyi": "",
        },
    )
    assert e == {("q/__init__.py", "q/stubbed.pyi")}


def test_nested_project_roots_prefer_the_importers_own(tmp_path):
    e = edges(
        tmp_path,
        {
            "one/shared/__init__.py": "",
            "one/shared/util.py": "",
            "one/main.py": "from shared import util\n",
            "two/shared/__init__.py": "",
            "two/shared/util.py": "",
            "two/tool/__init__.py": "",
            "two/tool/run.py": "from shared import util\n",
        },
    )
    assert ("one/main.py", "one/shared/util.py") in e
    assert ("two/tool/run.py", "two/shared/util.py") in e
    assert ("two/tool/run.py", "one/shared/util.py") not in e
