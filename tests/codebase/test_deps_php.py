"""PHP use/require resolution on small hand-written repositories."""

from __future__ import annotations

from ._deps import edges, parse_dir, write_repo


def test_psr4_use_grouped_aliases_and_traits(tmp_path):
    e = edges(
        tmp_path,
        {
            "composer.json": '{"autoload": {"psr-4": {"Acme\\\\": "src/"}}}',
            "src/Http/Client.php": "<?php\nnamespace Acme\\Http;\nclass Client {}\n",
            "src/Http/Request.php": "<?php\nnamespace Acme\\Http;\nclass Request {}\n",
            "src/Util/Loggable.php": "<?php\nnamespace Acme\\Util;\ntrait Loggable {}\n",
            "src/Generated/Stub.php": "<?php\n// no declaration parsed here\n",
            "src/App.php": (
                "<?php\nnamespace Acme;\n"
                "use Acme\\Http\\{Client, Request as Req};\n"
                "use Acme\\Util\\Loggable;\nuse Acme\\Generated\\Stub;\n"
                "use Psr\\Log\\LoggerInterface;\n"
                "class App { use Loggable; }\n"
            ),
        },
    )
    assert e == {
        ("src/App.php", "src/Http/Client.php"),
        ("src/App.php", "src/Http/Request.php"),
        ("src/App.php", "src/Util/Loggable.php"),
        ("src/App.php", "src/Generated/Stub.php"),  # via the PSR-4 prefix
    }


def test_require_include_forms(tmp_path):
    res = parse_dir(
        write_repo(
            tmp_path,
            {
                "lib/a.php": "<?php\n",
                "lib/b.php": "<?php\n",
                "config.php": "<?php\n",
                "lib/sub/c.php": (
                    "<?php\nrequire_once __DIR__ . '/../a.php';\n"
                    "include dirname(__FILE__) . '/../b.php';\n"
                    "require dirname(__DIR__, 2) . '/config.php';\n"
                    "require 'config.php';\n"
                    "require $dynamic . '/x.php';\n"
                    "// require 'lib/a.php';\n"
                ),
            },
        )
    )
    assert set(res.edges) == {
        ("lib/sub/c.php", "lib/a.php"),
        ("lib/sub/c.php", "lib/b.php"),
        ("lib/sub/c.php", "config.php"),
    }
    assert res.per_language["php"]["statements"] == 4


def test_namespace_use_and_relative_qualified_names(tmp_path):
    res = parse_dir(
        write_repo(
            tmp_path,
            {
                "Node/Block/Para.php": "<?php\nnamespace Lib\\Node\\Block;\nclass Para {}\n",
                "Ext.php": (
                    "<?php\nnamespace Lib\\Ext;\nuse Lib\\Node;\n"
                    "class Ext { function f() { return new Node\\Block\\Para(); } }\n"
                ),
            },
        )
    )
    assert res.edges == [("Ext.php", "Node/Block/Para.php")]
    assert res.per_language["php"]["statements"] == 1
    assert res.per_language["php"]["resolved"] == 1  # a namespace of the repository


def test_same_namespace_and_fully_qualified_references(tmp_path):
    e = edges(
        tmp_path,
        {
            "a/Model.php": "<?php\nnamespace Shop;\nclass Model {}\n",
            "a/Order.php": "<?php\nnamespace Shop;\nclass Order extends Model {}\n",
            "b/Other.php": "<?php\nnamespace Misc;\nclass Other { function f() { return new \\Shop\\Order(); } }\n",
            "b/Quiet.php": "<?php\nnamespace Misc;\nclass Quiet { /* Model */ }\n",
        },
    )
    assert e == {("a/Order.php", "a/Model.php"), ("b/Other.php", "a/Order.php")}
