"""Kotlin import resolution on small hand-written repositories."""

from __future__ import annotations

from repoloom.codebase.deps._base import mask
from repoloom.codebase.deps.kotlin import top_level_declarations
from repoloom.codebase.order import order_files

from ._deps import edges, parse_dir, write_repo

UTIL = (
    "package com.acme.util\n\n"
    "object Registry\n"
    "fun helper(): Int = 1\n"
    "fun String.shout(): String = uppercase()\n"
    'val DEFAULT_NAME = "x"\n'
    "typealias Names = List<String>\n"
    "class Box(val inner: Int) {\n    fun notTopLevel() = 2\n    val alsoNot = 3\n}\n"
)


def test_top_level_declarations_are_what_kotlin_imports_by_name():
    names = [n for n, _ in top_level_declarations(mask(UTIL, "java"))]
    assert names == ["Registry", "helper", "shout", "DEFAULT_NAME", "Names", "Box"]


def test_explicit_alias_star_and_function_imports(tmp_path):
    res = parse_dir(
        write_repo(
            tmp_path,
            {
                # the package directive decides, not the directory
                "lib/src/main/kotlin/Util.kt": UTIL,
                "lib/src/main/kotlin/Other.kt": "package com.acme.util\n\nclass Unused\n",
                "app/src/main/kotlin/com/acme/app/App.kt": (
                    "package com.acme.app\n\n"
                    "import com.acme.util.Registry\n"
                    "import com.acme.util.helper as h\n"
                    "import com.acme.util.*\n"
                    "import kotlinx.coroutines.launch\n\n"
                    "fun main() { Registry; h(); val n: Names = listOf() }\n"
                ),
            },
        )
    )
    app = "app/src/main/kotlin/com/acme/app/App.kt"
    assert res.edges == [(app, "lib/src/main/kotlin/Util.kt")]  # Unused is not named by App
    assert res.per_language["kotlin"]["statements"] == 4
    assert res.per_language["kotlin"]["resolved"] == 3  # kotlinx is not in the repository


def test_same_package_references_without_import_and_shadowing(tmp_path):
    e = edges(
        tmp_path,
        {
            "p/A.kt": 'package p\n\nclass A { val b = B() // C\n  val s = "C"\n  val t = toolName }\n',
            "p/B.kt": "package p\n\nclass B\n",
            "p/C.kt": "package p\n\nclass C\n",
            "p/Tools.kt": "package p\n\nval toolName = 1\n",
            "p/D.kt": "package p\n\nimport q.B\n\nclass D { val b = B() }\n",
            "q/B.kt": "package q\n\nclass B\n",
        },
    )
    assert ("p/A.kt", "p/B.kt") in e
    assert ("p/A.kt", "p/Tools.kt") in e  # a top-level property
    assert ("p/A.kt", "p/C.kt") not in e  # only in a comment and a string
    assert ("p/D.kt", "q/B.kt") in e
    assert ("p/D.kt", "p/B.kt") not in e  # shadowed by the explicit import


def test_expect_actual_copies_and_overloads_declared_elsewhere(tmp_path):
    e = edges(
        tmp_path,
        {
            "m/src/commonMain/kotlin/okio/Buffer.kt": "package okio\n\nexpect class Buffer\n",
            "m/src/jvmMain/kotlin/okio/Buffer.kt": "package okio\n\nactual class Buffer\n",
            "m/src/commonTest/kotlin/okio/BufferTest.kt": "package okio\n\nclass T { val b = Buffer() }\n",
            "m/src/commonMain/kotlin/okio/A.kt": "package okio\n\nfun Buffer.read() = 1\n",
            "m/src/commonMain/kotlin/okio/B.kt": "package okio\n\nfun Sink.read() = 2\nclass Sink\n",
        },
    )
    test = "m/src/commonTest/kotlin/okio/BufferTest.kt"
    assert (test, "m/src/commonMain/kotlin/okio/Buffer.kt") in e
    assert (test, "m/src/jvmMain/kotlin/okio/Buffer.kt") in e
    # declaring an overload of `read` is no use of the other file's `read`
    assert ("m/src/commonMain/kotlin/okio/A.kt", "m/src/commonMain/kotlin/okio/B.kt") not in e


def test_sample_order_puts_declarations_before_their_users(tmp_path):
    files = {
        "src/app/Main.kt": "package app\n\nimport core.Engine\n\nfun main() = Engine().run()\n",
        "src/core/Engine.kt": "package core\n\nclass Engine { fun run() = Parts.count }\n",
        "src/core/Parts.kt": "package core\n\nobject Parts { val count = 1 }\n",
    }
    res = parse_dir(write_repo(tmp_path, files))
    assert order_files(sorted(files), res.edges) == [
        ["src/core/Parts.kt", "src/core/Engine.kt", "src/app/Main.kt"]
    ]
