"""Static analysis for the cross-file benchmark: which names a file defines, and which names
each of its lines uses, for Python, Java, TypeScript and C# (tree-sitter grammars).

A file's *definitions* are every name it binds anywhere (classes, functions, methods, fields,
properties, enum members, variables at any scope, parameters, loop and catch variables);
its *API* is the subset another file can refer to (types, functions, methods, fields,
properties, enum members, module/top-level variables, ``self.x`` attributes in Python).
Names bound by an import are neither: an import is how a file refers to another file's API.
A *use* is an identifier leaf that is not in a binding position and not inside an import,
package or using statement.
"""

from __future__ import annotations

import builtins
import importlib
import io
import pathlib
from dataclasses import dataclass, field
from functools import cache

from repoloom.evaluate.crossfile.metrics import keywords

GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "java": ("tree_sitter_java", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "c-sharp": ("tree_sitter_c_sharp", "language"),
}
SUPPORTED_LANGUAGES = ("python", "java", "typescript", "c-sharp")

_ID_LEAVES = frozenset(
    {
        "identifier",
        "type_identifier",
        "property_identifier",
        "field_identifier",
        "shorthand_property_identifier",
        "shorthand_property_identifier_pattern",
    }
)
# Statements whose names refer to other files/packages, not uses on a completion line.
_IMPORT_NODES = frozenset(
    {
        "import_statement",  # python, typescript
        "import_from_statement",
        "future_import_statement",
        "import_declaration",  # java
        "package_declaration",
        "using_directive",  # c#
        "file_scoped_namespace_declaration",
        "module_declaration",  # java module-info
    }
)
# Declarations whose `name` field is API (visible to other files).
_API_DECLS: dict[str, frozenset[str]] = {
    "python": frozenset({"function_definition", "class_definition"}),
    "java": frozenset(
        {
            "class_declaration",
            "interface_declaration",
            "enum_declaration",
            "record_declaration",
            "annotation_type_declaration",
            "method_declaration",
            "constructor_declaration",
            "enum_constant",
            "annotation_type_element_declaration",
        }
    ),
    "typescript": frozenset(
        {
            "function_declaration",
            "generator_function_declaration",
            "function_signature",
            "class_declaration",
            "abstract_class_declaration",
            "interface_declaration",
            "type_alias_declaration",
            "enum_declaration",
            "method_definition",
            "method_signature",
            "abstract_method_signature",
            "public_field_definition",
            "property_signature",
            "enum_assignment",
            "internal_module",
            "module",
        }
    ),
    "c-sharp": frozenset(
        {
            "class_declaration",
            "interface_declaration",
            "struct_declaration",
            "enum_declaration",
            "record_declaration",
            "method_declaration",
            "constructor_declaration",
            "property_declaration",
            "event_declaration",
            "delegate_declaration",
            "enum_member_declaration",
            "indexer_declaration",
        }
    ),
}
# Declarations whose `name` field is local (parameters, locals, loop/catch variables).
_LOCAL_NAME_DECLS: dict[str, frozenset[str]] = {
    "python": frozenset({"default_parameter", "typed_default_parameter", "named_expression"}),
    "java": frozenset(
        {
            "formal_parameter",
            "spread_parameter",
            "catch_formal_parameter",
            "enhanced_for_statement",
            "type_parameter",
            "resource",
        }
    ),
    "typescript": frozenset({"type_parameter"}),
    "c-sharp": frozenset(
        {"parameter", "catch_declaration", "type_parameter", "namespace_declaration"}
    ),
}
# (node type, field) pairs whose identifier leaves are local bindings.
_LOCAL_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "python": (
        ("for_statement", "left"),
        ("for_in_clause", "left"),
        ("lambda", "parameters"),
    ),
    "java": (("lambda_expression", "parameters"),),
    "typescript": (
        ("required_parameter", "pattern"),
        ("optional_parameter", "pattern"),
        ("for_in_statement", "left"),
        ("catch_clause", "parameter"),
        ("arrow_function", "parameter"),
    ),
    "c-sharp": (("foreach_statement", "left"), ("lambda_expression", "parameters")),
}
# Member access: node type -> (receiver field, member field).
_MEMBER_ACCESS: dict[str, dict[str, tuple[str, str]]] = {
    "python": {"attribute": ("object", "attribute")},
    "java": {"method_invocation": ("object", "name"), "field_access": ("object", "field")},
    "c-sharp": {"member_access_expression": ("expression", "name")},
    "typescript": {"member_expression": ("object", "property")},
}
# Typed declarations: node type -> (type field, name field or "" for declarator children).
_TYPED: dict[str, dict[str, tuple[str, str]]] = {
    "python": {"typed_default_parameter": ("type", "name"), "assignment": ("type", "left")},
    "java": {
        "formal_parameter": ("type", "name"),
        "enhanced_for_statement": ("type", "name"),
        "local_variable_declaration": ("type", ""),
        "field_declaration": ("type", ""),
    },
    "c-sharp": {
        "parameter": ("type", "name"),
        "variable_declaration": ("type", ""),
        "property_declaration": ("type", "name"),
    },
    "typescript": {
        "required_parameter": ("type", "pattern"),
        "optional_parameter": ("type", "pattern"),
        "public_field_definition": ("type", "name"),
        "variable_declarator": ("type", "name"),
    },
}
EXTERNAL = "<external>"
_PRIMITIVE_TYPES = frozenset(
    {
        "predefined_type",
        "integral_type",
        "floating_point_type",
        "boolean_type",
        "void_type",
        "array_type",
        "literal_type",
    }
)


def _type_name(node) -> str | None:
    """The simple name of a declared type ("" for a primitive, None when unknown)."""
    while node is not None and node.type in ("type_annotation", "type", "nullable_type"):
        node = node.named_children[0] if node.named_children else None
    if node is None or node.type == "implicit_type":
        return None
    if node.type in _PRIMITIVE_TYPES:
        return ""
    if node.type in ("generic_type", "generic_name"):
        inner = node.child_by_field_name("name")
        node = (
            inner
            if inner is not None
            else (node.named_children[0] if node.named_children else None)
        )
        if node is None:
            return None
    leaves = _leaves(node) if node.type not in _ID_LEAVES else [node]
    if not leaves:
        return None
    name = leaves[-1].text.decode("utf-8", "replace")
    return None if name == "var" else name


def _python_import_bindings(
    node, local_modules: frozenset[str] | None, out: dict[str, bool]
) -> None:
    """Names an import statement binds -> whether they come from outside the repository."""

    def external(module: str) -> bool:
        if local_modules is None or module.startswith("."):
            return False
        return module.split(".", 1)[0] not in local_modules

    if node.type == "import_statement":
        for child in node.named_children:
            if child.type == "dotted_name":
                out[child.text.decode().split(".", 1)[0]] = external(child.text.decode())
            elif child.type == "aliased_import":
                name, alias = child.child_by_field_name("name"), child.child_by_field_name("alias")
                if name is not None and alias is not None:
                    out[alias.text.decode()] = external(name.text.decode())
    elif node.type == "import_from_statement":
        module = node.child_by_field_name("module_name")
        ext = external(module.text.decode()) if module is not None else False
        for i, child in enumerate(node.children):
            if node.field_name_for_child(i) != "name":
                continue
            target = child.child_by_field_name("alias") if child.type == "aliased_import" else child
            if target is not None:
                out[target.text.decode().split(".", 1)[0]] = ext


_FUNCTION_SCOPES = frozenset(
    {
        "function_definition",  # python
        "lambda",
        "method_declaration",  # java, c#
        "constructor_declaration",
        "lambda_expression",
        "local_function_statement",
        "function_declaration",  # typescript
        "generator_function_declaration",
        "function_expression",
        "arrow_function",
        "method_definition",
        "statement_block",
        "block",
    }
)


@dataclass
class FileNames:
    """Names of one file. ``uses`` maps a 0-based line number to the names used on it."""

    language: str
    api: set[str] = field(default_factory=set)
    defined: set[str] = field(default_factory=set)
    uses: dict[int, list[str]] = field(default_factory=dict)
    # A use that is the member of ``receiver.member`` where the receiver's type is known from a
    # declaration (``Foo x``, ``x: Foo``; "" for a primitive) or is an external module (Python
    # ``import platform``: ``"<external>"``): start position (row, column) -> that type.
    receiver_types: dict[tuple[int, int], str] = field(default_factory=dict)
    use_positions: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    import_lines: set[int] = field(default_factory=set)
    error_lines: set[int] = field(default_factory=set)  # lines touched by a parse error


def grammar_name(language: str, path: str = "") -> str:
    if language == "typescript" and path.lower().endswith(".tsx"):
        return "tsx"
    return language


@cache
def _parser(grammar: str):
    import tree_sitter

    module, function = GRAMMARS[grammar]
    lang = tree_sitter.Language(getattr(importlib.import_module(module), function)())
    return tree_sitter.Parser(lang)


def _leaves(node) -> list:
    """Identifier leaves under ``node`` (``node`` itself when it is one)."""
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type in _ID_LEAVES:
            out.append(n)
        elif n.type not in ("attribute", "member_expression", "subscript", "default_value"):
            stack.extend(reversed(n.children))
    return out


def _py_targets(node, api: bool, names: FileNames, bound: set[int]) -> None:
    """Bindings of a Python assignment target."""
    if node.type == "identifier":
        (names.api if api else names.defined).add(node.text.decode("utf-8", "replace"))
        bound.add(node.start_byte)
    elif node.type == "attribute":
        obj, attr = node.child_by_field_name("object"), node.child_by_field_name("attribute")
        if attr is not None:
            # `self.x = ...` defines API; `other.x = ...` still makes x the file's own name
            # (conservative: such a line is never counted as using x from another file).
            word = attr.text.decode("utf-8", "replace")
            if obj is not None and obj.text in (b"self", b"cls"):
                names.api.add(word)
            names.defined.add(word)
            bound.add(attr.start_byte)
    elif node.type in ("pattern_list", "tuple_pattern", "list_pattern", "list_splat_pattern"):
        for child in node.named_children:
            _py_targets(child, api, names, bound)


def analyze(
    text: str, language: str, path: str = "", local_modules: frozenset[str] | None = None
) -> FileNames:
    """The definitions, API and per-line uses of one file (tree-sitter; never raises on bad
    code: tree-sitter recovers, and lines touched by a parse error are listed).

    ``local_modules``: Python top-level module/package names of the repository; an import of
    any other module marks ``module.member`` uses as external (None: no such marking)."""
    grammar = grammar_name(language, path)
    if grammar not in GRAMMARS:
        raise ValueError(f"no grammar for language {language!r}")
    tree = _parser(grammar).parse(text.encode("utf-8", "surrogatepass"))
    names = FileNames(language=language)
    api_decls = _API_DECLS[language]
    local_decls = _LOCAL_NAME_DECLS[language]
    local_fields = _LOCAL_FIELDS[language]
    bound: set[int] = set()  # start bytes of identifier leaves in binding positions
    id_nodes: list = []
    member_access = _MEMBER_ACCESS[language]
    typed = _TYPED[language]
    receivers: dict[int, str] = {}  # member leaf start byte -> receiver identifier
    var_types: dict[str, str] = {}  # variable -> declared simple type name (flow-insensitive)
    py_imports: dict[str, bool] = {}  # python: import-bound name -> external?
    # Iterative walk carrying (node, inside a function body?, inside an import?)
    stack = [(tree.root_node, False, False)]
    while stack:
        node, in_func, in_import = stack.pop()
        t = node.type
        if t == "ERROR" or node.is_missing:
            names.error_lines.update(range(node.start_point[0], node.end_point[0] + 1))
        if t in _IMPORT_NODES:
            if language == "python":
                _python_import_bindings(node, local_modules, py_imports)
            in_import = True
            names.import_lines.update(range(node.start_point[0], node.end_point[0] + 1))
        if t in _ID_LEAVES:
            if not in_import:
                id_nodes.append(node)
            continue
        if t in member_access:
            obj_field, member_field = member_access[t]
            obj, member = (
                node.child_by_field_name(obj_field),
                node.child_by_field_name(member_field),
            )
            if obj is not None and member is not None and obj.type == "identifier":
                receivers[member.start_byte] = obj.text.decode("utf-8", "replace")
        if t in typed:
            type_field, name_field = typed[t]
            tname = _type_name(node.child_by_field_name(type_field))
            if tname is not None:
                if name_field:
                    targets = [node.child_by_field_name(name_field)]
                    if t == "formal_parameter" or t == "parameter":
                        targets = [node.child_by_field_name("name")]
                else:
                    targets = [
                        c.child_by_field_name("name") for c in node.named_children
                        if c.type == "variable_declarator"
                    ]  # fmt: skip
                for target in targets:
                    if target is not None and target.type in _ID_LEAVES:
                        var_types[target.text.decode("utf-8", "replace")] = tname
        if language == "python" and t == "typed_parameter":
            ident = next((c for c in node.named_children if c.type == "identifier"), None)
            tname = _type_name(node.child_by_field_name("type"))
            if ident is not None and tname is not None:
                var_types[ident.text.decode("utf-8", "replace")] = tname
        if t in api_decls or t in local_decls:
            name = node.child_by_field_name("name")
            if name is not None:
                leaves = _leaves(name)
                target = names.api if (t in api_decls and not _is_local_api(t, in_func)) else None
                for leaf in leaves:
                    word = leaf.text.decode("utf-8", "replace")
                    names.defined.add(word)
                    if target is not None:
                        target.add(word)
                    bound.add(leaf.start_byte)
        for node_type, field_name in local_fields:
            if t == node_type:
                sub = node.child_by_field_name(field_name)
                if sub is not None:
                    for leaf in _leaves(sub):
                        names.defined.add(leaf.text.decode("utf-8", "replace"))
                        bound.add(leaf.start_byte)
        if language == "python":
            _python_bindings(node, in_func, names, bound)
        elif t == "variable_declarator":
            _declarator(node, language, in_func, names, bound)
        elif t == "enum_body" and language == "typescript":
            for child in node.named_children:  # members without an initializer
                if child.type == "property_identifier":
                    word = child.text.decode("utf-8", "replace")
                    names.api.add(word)
                    bound.add(child.start_byte)
        child_in_func = in_func or t in _FUNCTION_SCOPES and language != "python"
        if language == "python":
            child_in_func = in_func or t in ("function_definition", "lambda")
        for child in reversed(node.children):
            stack.append((child, child_in_func, in_import))
    names.defined |= names.api
    for leaf in id_nodes:
        if leaf.start_byte in bound:
            continue
        row = leaf.start_point[0]
        names.uses.setdefault(row, []).append(leaf.text.decode("utf-8", "replace"))
        pos = (row, leaf.start_point[1])
        names.use_positions.setdefault(row, []).append(pos)
        receiver = receivers.get(leaf.start_byte)
        if receiver is not None:
            if py_imports.get(receiver):
                names.receiver_types[pos] = EXTERNAL
            elif receiver in var_types:
                names.receiver_types[pos] = var_types[receiver]
    return names


def _is_local_api(node_type: str, in_func: bool) -> bool:
    # A Python function or class nested in a function is local; methods and classes are API.
    return in_func and node_type in ("function_definition", "class_definition")


def _python_bindings(node, in_func: bool, names: FileNames, bound: set[int]) -> None:
    t = node.type
    if t in ("assignment", "augmented_assignment"):
        left = node.child_by_field_name("left")
        if left is not None:
            _py_targets(left, not in_func, names, bound)
    elif t in ("parameters", "lambda_parameters"):
        for child in node.named_children:
            if child.type == "identifier":
                leaf = child
            elif child.type in (
                "typed_parameter",
                "list_splat_pattern",
                "dictionary_splat_pattern",
            ):
                leaf = next((c for c in child.named_children if c.type == "identifier"), None)
                if leaf is None and child.named_children:
                    inner = child.named_children[0]
                    leaf = next((c for c in inner.named_children if c.type == "identifier"), None)
            else:
                continue
            if leaf is not None:
                names.defined.add(leaf.text.decode("utf-8", "replace"))
                bound.add(leaf.start_byte)
    elif t == "as_pattern_target":
        for leaf in _leaves(node):
            names.defined.add(leaf.text.decode("utf-8", "replace"))
            bound.add(leaf.start_byte)
    elif t == "keyword_argument":
        # `f(file=x)`: `file` names a parameter of the callee, not a use of a `file` elsewhere.
        name = node.child_by_field_name("name")
        if name is not None:
            bound.add(name.start_byte)
    elif t in ("global_statement", "nonlocal_statement"):
        for leaf in _leaves(node):
            bound.add(leaf.start_byte)


def _declarator(node, language: str, in_func: bool, names: FileNames, bound: set[int]) -> None:
    """Java/C#/TypeScript ``variable_declarator``: a field (API) or a local variable."""
    name = node.child_by_field_name("name")
    if name is None:
        name = next((c for c in node.named_children if c.type == "identifier"), None)
    if name is None:
        return
    parent = node.parent
    is_api = False
    if language == "java":
        is_api = parent is not None and parent.type in ("field_declaration", "constant_declaration")
    elif language == "c-sharp":
        grand = parent.parent if parent is not None else None
        is_api = grand is not None and grand.type in (
            "field_declaration",
            "event_field_declaration",
        )
    elif language == "typescript":
        is_api = not in_func
    for leaf in _leaves(name):
        word = leaf.text.decode("utf-8", "replace")
        names.defined.add(word)
        if is_api:
            names.api.add(word)
        bound.add(leaf.start_byte)


# Names too generic to witness a cross-file dependency even when another file defines them:
# builtins and the methods of the standard containers/strings of each language.
def _python_common() -> frozenset[str]:
    names = set(dir(builtins))
    for typ in (str, bytes, list, dict, set, tuple, int, float, object, Exception):
        names.update(dir(typ))
    for typ in (io.TextIOWrapper, io.BytesIO, pathlib.Path):  # file-like and path methods
        names.update(dir(typ))
    names.update(("self", "cls"))
    return frozenset(names)


_COMMON_JAVA = """toString equals hashCode getClass get set add put remove size length isEmpty
contains containsKey clear close run call apply accept test compareTo iterator next hasNext
values keySet entrySet stream map filter forEach collect of valueOf name ordinal append build
println print format String Object Integer Long Boolean Double List Map Set HashMap ArrayList
Override Exception RuntimeException main init start stop value key getName getMessage getValue
getKey getType getId getClass"""
_COMMON_TS = """constructor toString valueOf length push pop shift map filter reduce forEach find
some every includes indexOf join slice splice concat keys values entries get set has delete clear
add then catch finally resolve reject console log error warn JSON parse stringify Object Array
String Number Boolean Promise Map Set Date Error Math name value type id data default init run
call apply bind next done emit on off number string boolean bigint symbol any unknown never
object undefined null void"""
_COMMON_CS = """ToString Equals GetHashCode GetType Add Remove Contains Count Length Clear Get Set
Dispose Value Key Name Id Main Run Start Stop Select Where First FirstOrDefault Any All ToList
ToArray Format Append WriteLine Write Console String Object Task List Dictionary Exception
Async Await var value"""


@cache
def common_names(language: str) -> frozenset[str]:
    base = {
        "python": _python_common(),
        "java": frozenset(_COMMON_JAVA.split()),
        "typescript": frozenset(_COMMON_TS.split()),
        "c-sharp": frozenset(_COMMON_CS.split()),
    }[language]
    return base | keywords(language)
