"""Rust mod/use resolution on small hand-written crates."""

from __future__ import annotations

from ._deps import edges, parse_dir, write_repo


def test_mod_declarations_and_use_paths(tmp_path):
    e = edges(
        tmp_path,
        {
            "Cargo.toml": '[package]\nname = "my-crate"\nversion = "0.1.0"\n',
            "src/lib.rs": (
                'pub mod net;\nmod util;\n#[path = "odd/place.rs"]\nmod place;\n'
                "mod inline { fn f() {} }\npub use crate::net::http::Client;\n"
            ),
            "src/net/mod.rs": "pub mod http;\nuse super::util::helper;\n",
            "src/net/http.rs": "use crate::{util, net::Other};\nuse self::inner::X;\nmod inner;\n",
            "src/net/http/inner.rs": (
                "use std::io;\nuse super::super::super::util;\nuse super::super::super::super::x;\n"
            ),
            "src/util.rs": "pub fn helper() {}\n",
            "src/odd/place.rs": "",
            "src/main.rs": "use my_crate::net::http;\nmod cli;\n",
            "src/cli.rs": "use crate::Args;\n",
        },
    )
    assert e == {
        ("src/lib.rs", "src/net/mod.rs"),
        ("src/lib.rs", "src/util.rs"),
        ("src/lib.rs", "src/odd/place.rs"),
        ("src/lib.rs", "src/net/http.rs"),
        ("src/net/mod.rs", "src/net/http.rs"),
        ("src/net/mod.rs", "src/util.rs"),
        ("src/net/http.rs", "src/util.rs"),
        ("src/net/http.rs", "src/net/mod.rs"),  # net::Other lives in net/mod.rs
        ("src/net/http.rs", "src/net/http/inner.rs"),
        ("src/net/http/inner.rs", "src/util.rs"),  # three levels up is the crate root
        ("src/main.rs", "src/net/http.rs"),  # through the crate name, '-' -> '_'
        ("src/main.rs", "src/cli.rs"),
        ("src/cli.rs", "src/main.rs"),  # crate:: of the binary crate
    }
    # a fourth super:: would leave the crate: it resolves to nothing (no extra edge above)


def test_uniform_paths_comments_and_lifetimes(tmp_path):
    res = parse_dir(
        write_repo(
            tmp_path,
            {
                "src/lib.rs": (
                    "mod a;\nmod b;\nuse a::Thing;\n// use b::Other;\n"
                    "fn f<'a>(x: &'a str) -> &'a str { let s = \"use b::X;\"; x }\n"
                    "use serde::Serialize;\n"
                ),
                "src/a.rs": "",
                "src/b.rs": "",
            },
        )
    )
    assert set(res.edges) == {("src/lib.rs", "src/a.rs"), ("src/lib.rs", "src/b.rs")}
    assert res.per_language["rust"]["statements"] == 4  # 2 mod + 2 use
    assert res.per_language["rust"]["resolved"] == 3


def test_cargo_target_roots_and_workspace_crates(tmp_path):
    e = edges(
        tmp_path,
        {
            "Cargo.toml": '[workspace]\nmembers = ["core"]\n',
            "core/Cargo.toml": '[package]\nname = "core-lib"\n[lib]\nname = "corelib"\n',
            "core/src/lib.rs": "pub mod util;\n",
            "core/src/util.rs": "",
            "core/tests/it.rs": "use corelib::util::f;\n",
            "core/src/bin/tool.rs": "mod helper;\nuse corelib::util;\n",
            "core/src/bin/helper.rs": "",
            "notes/tests/loose.rs": "mod x;\n",  # no Cargo.toml beside: not a crate root
            "notes/tests/loose/x.rs": "",
        },
    )
    assert ("core/tests/it.rs", "core/src/util.rs") in e  # [lib] name wins over the package
    assert ("core/src/bin/tool.rs", "core/src/bin/helper.rs") in e  # a crate root: own dir
    assert ("core/src/bin/tool.rs", "core/src/util.rs") in e
    assert ("notes/tests/loose.rs", "notes/tests/loose/x.rs") in e  # a plain module file
