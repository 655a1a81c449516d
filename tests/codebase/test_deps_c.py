"""C/C++ #include resolution on small hand-written repositories."""

from __future__ import annotations

from ._deps import edges, parse_dir, write_repo


def test_quoted_relative_and_parent_dir(tmp_path):
    e = edges(
        tmp_path,
        {
            "src/main.c": '#include "util.h"\n#include "../common/defs.h"\n#include <stdio.h>\n',
            "src/util.h": "#pragma once\n",
            "common/defs.h": "",
        },
    )
    assert e == {("src/main.c", "src/util.h"), ("src/main.c", "common/defs.h")}


def test_include_dir_and_angle_brackets_inside_repo(tmp_path):
    e = edges(
        tmp_path,
        {
            "include/mylib/api.h": '#include "mylib/types.h"\n',
            "include/mylib/types.h": "",
            "lib/api.cpp": "#include <mylib/api.h>\n#include <vector>\n#include <string.h>\n",
        },
    )
    assert e == {
        ("include/mylib/api.h", "include/mylib/types.h"),
        ("lib/api.cpp", "include/mylib/api.h"),
    }


def test_suffix_match_learns_include_dirs_for_angle_includes(tmp_path):
    e = edges(
        tmp_path,
        {
            "third_party/zstd/zstd.h": "",
            "third_party/zstd/stdio.h": "",  # a repo file named like a system header
            "ext/a.c": '#include "zstd.h"\n',
            "ext/b.c": "#include <zstd.h>\n",
            "ext/c.c": "#include <stdio.h>\n",  # learned dir third_party/zstd holds stdio.h
            "other/d.c": "#include <stdio.h>\n",
        },
    )
    assert ("ext/a.c", "third_party/zstd/zstd.h") in e
    assert ("ext/b.c", "third_party/zstd/zstd.h") in e
    # a system header name resolves by suffix only inside an include dir (here: learned)
    assert ("ext/c.c", "third_party/zstd/stdio.h") in e


def test_system_header_does_not_resolve_by_suffix(tmp_path):
    e = edges(tmp_path, {"compat/stdio.h": "", "src/x.c": "#include <stdio.h>\n"})
    assert e == set()


def test_closest_candidate_wins(tmp_path):
    e = edges(
        tmp_path,
        {
            "a/config.h": "",
            "b/config.h": "",
            "b/sub/x.c": '#include "sub2/../config.h"\n#include "config.h"\n',
        },
    )
    assert ("b/sub/x.c", "b/config.h") in e
    assert ("b/sub/x.c", "a/config.h") not in e


def test_comments_strings_and_if0_do_not_count(tmp_path):
    res = parse_dir(
        write_repo(
            tmp_path,
            {
                "x.h": "",
                "y.h": "",
                "z.h": "",
                "main.c": (
                    '// #include "x.h"\n/* #include "x.h" */\n'
                    'const char *s = "#include \\"x.h\\"";\n'
                    '#if 0\n#include "y.h"\n#else\n#include "z.h"\n#endif\n'
                ),
            },
        )
    )
    assert res.edges == [("main.c", "z.h")]
    assert res.per_language["c"]["statements"] == 1


def test_raw_string_and_unterminated_comment_do_not_crash(tmp_path):
    e = edges(
        tmp_path,
        {
            "a.hpp": "",
            "b.cpp": 'auto s = R"xx(\n#include "a.hpp"\n)xx";\n#include "a.hpp"\n/* open',
        },
    )
    assert e == {("b.cpp", "a.hpp")}
