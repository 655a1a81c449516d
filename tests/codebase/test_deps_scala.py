"""Scala import resolution on small hand-written repositories."""

from __future__ import annotations

from repoloom.codebase.order import order_files

from ._deps import edges, parse_dir, write_repo


def test_selectors_renames_wildcards_and_scala3_star(tmp_path):
    res = parse_dir(
        write_repo(
            tmp_path,
            {
                "core/src/main/scala/acme/data/Chain.scala": "package acme.data\n\nclass Chain\n",
                "core/src/main/scala/acme/data/Ior.scala": "package acme.data\n\nclass Ior\n",
                "core/src/main/scala/acme/data/Unused.scala": "package acme.data\n\nclass Unused\n",
                "core/src/main/scala/acme/syntax/all.scala": "package acme.syntax\n\nobject all\n",
                "app/src/main/scala/app/Main.scala": (
                    "package app\n\n"
                    "import acme.data.{Chain => C, Ior}\n"
                    "import acme.syntax.all._\n"
                    "import acme.data.*\n"
                    "import scala.collection.mutable\n\n"
                    "object Main { val c: C = null; val i: Ior = null }\n"
                ),
            },
        )
    )
    main = "app/src/main/scala/app/Main.scala"
    assert {b for a, b in res.edges if a == main} == {
        "core/src/main/scala/acme/data/Chain.scala",
        "core/src/main/scala/acme/data/Ior.scala",
        "core/src/main/scala/acme/syntax/all.scala",
    }
    # one statement per import clause (a selector group is one); scala.collection is not here
    assert res.per_language["scala"]["statements"] == 4
    assert res.per_language["scala"]["resolved"] == 3


def test_chained_and_nested_packages_relative_imports_and_package_objects(tmp_path):
    e = edges(
        tmp_path,
        {
            "cats/package.scala": "package object cats {\n  type Id[A] = A\n}\n",
            "cats/Monad.scala": "package cats\n\ntrait Monad\n",
            "cats/syntax/ops.scala": "package cats\npackage syntax\n\ntrait Ops\n",
            # chained clauses: members of `cats` are visible; `syntax.Ops` is relative
            "cats/tests/T.scala": (
                "package cats\npackage tests\n\nimport syntax.Ops\n\n"
                "class T extends Ops { val m: Monad = null; val x: Id[Int] = 1 }\n"
            ),
            "nested/N.scala": "package outer {\n  package inner {\n    class N\n  }\n}\n",
            "user/U.scala": "package user\n\nimport outer.inner.N\n\nclass U(n: N)\n",
            # members of an indented Scala 3 body are not top-level
            "s3/Main.scala": "package s3\n\nobject Main:\n  class Hidden\n",
            "s3/Other.scala": "package s3\n\nclass Other { Hidden; Main }\n",
        },
    )
    assert ("cats/tests/T.scala", "cats/syntax/ops.scala") in e
    assert ("cats/tests/T.scala", "cats/Monad.scala") in e
    assert ("cats/tests/T.scala", "cats/package.scala") in e
    assert ("user/U.scala", "nested/N.scala") in e
    assert ("s3/Other.scala", "s3/Main.scala") in e  # through `Main`, not `Hidden`
    assert not any(a == "cats/Monad.scala" for a, _ in e)


def test_cross_built_copies_from_shared_code_and_version_specific_code(tmp_path):
    e = edges(
        tmp_path,
        {
            "m/src/main/scala-2/p/Compat.scala": "package p\n\nobject Compat\n",
            "m/src/main/scala-3/p/Compat.scala": "package p\n\nobject Compat\n",
            "m/src/main/scala/p/Shared.scala": "package p\n\nclass Shared { Compat }\n",
            "m/src/main/scala-3/p/Only3.scala": "package p\n\nclass Only3 { Compat }\n",
        },
    )
    assert ("m/src/main/scala/p/Shared.scala", "m/src/main/scala-2/p/Compat.scala") in e
    assert ("m/src/main/scala/p/Shared.scala", "m/src/main/scala-3/p/Compat.scala") in e
    assert ("m/src/main/scala-3/p/Only3.scala", "m/src/main/scala-3/p/Compat.scala") in e
    assert ("m/src/main/scala-3/p/Only3.scala", "m/src/main/scala-2/p/Compat.scala") not in e


def test_sample_order_puts_definitions_before_their_users(tmp_path):
    files = {
        "src/app/Main.scala": "package app\n\nimport core.Engine\n\nobject Main { Engine.run() }\n",
        "src/core/Engine.scala": "package core\n\nobject Engine { def run() = Parts.count }\n",
        "src/core/Parts.scala": "package core\n\nobject Parts { val count = 1 }\n",
    }
    res = parse_dir(write_repo(tmp_path, files))
    assert order_files(sorted(files), res.edges) == [
        ["src/core/Parts.scala", "src/core/Engine.scala", "src/app/Main.scala"]
    ]
