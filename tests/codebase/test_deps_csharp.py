"""C# using/namespace resolution on small hand-written repositories."""

from __future__ import annotations

from ._deps import edges, parse_dir, write_repo


def test_using_namespaces_file_scoped_and_partial_types(tmp_path):
    e = edges(
        tmp_path,
        {
            "Core/Widget.cs": "namespace Acme.Core;\npublic class Widget {}\n",
            "Core/Gadget.cs": "namespace Acme.Core { public interface IGadget {} }\n",
            "Core/Part1.cs": "namespace Acme.Core { public partial class Big {} }\n",
            "Core/Part2.cs": "namespace Acme.Core { public partial class Big {} }\n",
            "App/Program.cs": (
                "using System;\nusing Acme.Core;\nnamespace Acme.App {\n"
                "  class Program { Widget w; Big b; }\n}\n"
            ),
        },
    )
    assert e == {
        ("App/Program.cs", "Core/Widget.cs"),
        ("App/Program.cs", "Core/Part1.cs"),
        ("App/Program.cs", "Core/Part2.cs"),
    }


def test_nested_namespaces_static_alias_global_and_implicit(tmp_path):
    res = parse_dir(
        write_repo(
            tmp_path,
            {
                "A.cs": "namespace Outer { namespace Inner { public static class Util {} } }\n",
                "B.cs": "namespace Outer { public class Base {} }\n",
                "C.cs": (
                    "using static Outer.Inner.Util;\nusing U = Outer.Inner.Util;\n"
                    "namespace Outer.Inner.Deep { class C : Base {} }\n"
                ),
                "G.cs": "global using Lib;\n",
                "L.cs": "namespace Lib { public record Rec(int X); }\n",
                "D.cs": "namespace Elsewhere { class D { Rec r; /* Base */ } }\n",
            },
        )
    )
    e = set(res.edges)
    assert ("C.cs", "A.cs") in e  # using static and alias
    assert ("C.cs", "B.cs") in e  # Base from an enclosing namespace, no using needed
    assert ("D.cs", "L.cs") in e  # global using in another file
    assert ("D.cs", "B.cs") not in e  # only in a comment
    assert res.per_language["c-sharp"]["statements"] == 3


def test_unknown_namespace_is_unresolved(tmp_path):
    res = parse_dir(
        write_repo(
            tmp_path,
            {
                "X.cs": "using Newtonsoft.Json;\n// using Y;\nclass X {}\n",
                "Y.cs": "namespace Y {}\n",
            },
        )
    )
    assert res.edges == []
    assert res.per_language["c-sharp"]["statements"] == 1
    assert res.per_language["c-sharp"]["resolved"] == 0
