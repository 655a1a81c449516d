"""The one config loader (repoloom.config) and the commands that take KEY=VALUE overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

import repoloom.corpus.executors.local as corpus_build
import repoloom.train.train as train_module
from repoloom import config as C
from repoloom.cli import main
from repoloom.corpus.config import CorpusConfig, load_config
from repoloom.corpus.schema import BuildError

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Inner:
    flag: bool = False
    count: int = 1
    ratio: float = 0.5
    names: list[str] = field(default_factory=lambda: ["a"])
    limit: int | None = None
    where: str | None = "x"


@dataclass
class Outer:
    name: str = "n"
    inner: Inner = field(default_factory=Inner)


# --------------------------------------------------------------------------------- coercion


@pytest.mark.parametrize(
    ("override", "attr", "expected"),
    [
        ("inner.flag=true", "flag", True),
        ("inner.flag=yes", "flag", True),
        ("inner.flag=0", "flag", False),
        ("inner.flag=off", "flag", False),
        ("inner.count=12", "count", 12),
        ("inner.count=1e3", "count", 1000),
        ("inner.ratio=0.8", "ratio", 0.8),
        ("inner.ratio=1", "ratio", 1.0),
        ("inner.ratio=1e-4", "ratio", 1e-4),
        ("inner.names=[b, c]", "names", ["b", "c"]),
        ("inner.names=b,c", "names", ["b", "c"]),
        ("inner.names=b", "names", ["b"]),
        ("inner.names=[]", "names", []),
        ("inner.limit=null", "limit", None),
        ("inner.limit=none", "limit", None),
        ("inner.limit=", "limit", None),
        ("inner.limit=7", "limit", 7),
        ("inner.where=null", "where", None),
        ("inner.where=1.3", "where", "1.3"),  # a string field keeps the text as written
        ("inner.where=yes", "where", "yes"),
    ],
)
def test_override_text_is_parsed_for_the_field_type(override, attr, expected):
    value = getattr(C.load(Outer, None, [override]).inner, attr)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("inner.flag=maybe", "inner.flag: expected true or false, got 'maybe'"),
        ("inner.count=2.5", "inner.count: expected an integer"),
        ("inner.count=true", "inner.count: expected an integer"),
        ("inner.ratio=abc", "inner.ratio: expected a number"),
        ("inner.names={a: 1}", "inner.names: expected a list"),
        ("inner.cuont=3", r"inner.cuont: unknown setting \(did you mean count\?\)"),
        ("bogus=3", "bogus: unknown setting"),
        ("name.sub=3", "name.sub: unknown setting"),
        ("inner=3", "inner: is a section"),
        ("not a key=3", "is not KEY=VALUE"),
    ],
)
def test_bad_override_names_the_key(override, message):
    with pytest.raises(C.ConfigError, match=message):
        C.load(Outer, None, [override])


def test_typed_values_follow_the_same_rules():
    got = C.from_dict(Outer, {"inner": {"count": 3.0, "ratio": 2, "limit": None}, "name": 5})
    assert (got.inner.count, got.inner.ratio, got.inner.limit, got.name) == (3, 2.0, None, "5")
    assert C.from_dict(Outer, {"inner.count": 4}).inner.count == 4  # dotted keys in a dict
    for data, message in [
        ({"inner": {"flag": "yes"}}, "inner.flag: expected true or false"),  # YAML gives bools
        ({"inner": {"names": "a"}}, "inner.names: expected a list"),
        ({"inner": {"count": True}}, "inner.count: expected an integer"),
        ({"inner": [1]}, "inner: expected a mapping"),
    ]:
        with pytest.raises(C.ConfigError, match=message):
            C.from_dict(Outer, data)


def test_yaml_then_flags_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: from-yaml\ninner: {count: 2, ratio: 0.1}\n")
    got = C.load(Outer, path, ["inner.ratio=0.9"], settings={"inner.count": 5, "inner.ratio": 0.3})
    assert (got.name, got.inner.count, got.inner.ratio) == ("from-yaml", 5, 0.9)
    path.write_text("inner: {count: x}\n")
    with pytest.raises(C.ConfigError, match=r"c.yaml: inner.count: expected an integer"):
        C.load(Outer, path)


def test_replace_leaves_the_original_alone():
    base = Outer()
    new = C.replace(base, ["inner.names=q,v"])
    assert new.inner.names == ["q", "v"] and base.inner.names == ["a"]


def test_shipped_configs_stay_loadable():
    assert load_config(ROOT / "configs/corpus/default.yaml") == CorpusConfig()
    got = load_config(ROOT / "configs/corpus/default.yaml", ["dedup.threshold=0.8"])
    assert got.dedup.threshold == 0.8 and got.fingerprint() != CorpusConfig().fingerprint()
    with pytest.raises(C.ConfigError, match="dedup.threshold: must be between 0 and 1"):
        load_config(None, ["dedup.threshold=1.5"])  # the section's own checks still run


def test_sources_and_overrides_are_told_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a=b").mkdir()
    args = ["repo", "a=b", "dedup.threshold=0.8", "s3://bucket/date=2024/", "x.y=1"]
    sources, overrides = C.split_sources_and_overrides(args)
    assert sources == ["repo", "a=b", "s3://bucket/date=2024/"]
    assert overrides == ["dedup.threshold=0.8", "x.y=1"]


# --------------------------------------------------------------------------------- commands


@pytest.fixture
def captured_build(monkeypatch):
    """`repoloom corpus build` with the build itself replaced: records the tasks and config."""
    seen: dict = {}

    def fake_build(tasks, out, config, **kw):
        seen.update(tasks=tasks, config=config)
        raise BuildError("stopped by the test")

    monkeypatch.setattr(corpus_build, "build_corpus", fake_build)
    return seen


def _repo(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "a.py").write_text("x = 1\n")
    return root


def test_corpus_build_takes_overrides_and_flags(tmp_path, captured_build, capsys):
    repo = _repo(tmp_path / "r")
    args = ["corpus", "build", str(repo), "--out", str(tmp_path / "o"), "--no-progress"]
    rc = main([*args, "dedup.threshold=0.8", "screening.quality=false", "--order-mode", "paper"])
    assert rc == 2 and "stopped by the test" in capsys.readouterr().err
    config = captured_build["config"]
    assert config.dedup.threshold == 0.8 and config.screening.quality is False
    assert config.order.mode == "paper"  # the flag is the override order.mode=paper
    assert [t.name for t in captured_build["tasks"]] == ["r"]
    main([*args, "order.mode=paper", "--decontam-hub", "--benchmarks-dir", str(tmp_path)])
    config = captured_build["config"]
    assert config.order.mode == "paper" and config.decontam.hub is True
    assert config.decontam.benchmarks_dir == str(tmp_path)


def test_corpus_build_unknown_key_is_a_clear_error(tmp_path, captured_build, capsys):
    repo = _repo(tmp_path / "r")
    rc = main(["corpus", "build", str(repo), "--out", str(tmp_path / "o"), "dedup.treshold=0.8"])
    assert rc == 2 and not captured_build
    assert "dedup.treshold: unknown setting (did you mean threshold?)" in capsys.readouterr().err
    rc = main(["corpus", "build", str(repo), "--out", str(tmp_path / "o"), "dedup.near=maybe"])
    assert rc == 2 and "dedup.near: expected true or false" in capsys.readouterr().err


def test_corpus_build_source_holding_equals_stays_a_source(tmp_path, captured_build, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _repo(tmp_path / "name=value")
    main(["corpus", "build", "name=value", "--out", str(tmp_path / "o")])
    assert [t.name for t in captured_build["tasks"]] == ["name=value"]
    assert captured_build["config"] == load_config(None, settings={
        "decontam.benchmarks_dir": captured_build["config"].decontam.benchmarks_dir
    })  # fmt: skip


def test_corpus_config_prints_overrides(capsys):
    assert main(["corpus", "config", "dedup.threshold=0.75"]) == 0
    assert "threshold: 0.75" in capsys.readouterr().out


def test_train_takes_overrides(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_train(cfg):
        seen["cfg"] = cfg
        raise ValueError("stopped by the test")

    monkeypatch.setattr(train_module, "train", fake_train)
    config = str(ROOT / "configs/train/tiny.yaml")
    rc = main(["train", "--config", config, "max_steps=3", "lora.dropout=0.1", "lr=1e-4"])
    assert rc == 2 and "stopped by the test" in capsys.readouterr().err
    cfg = seen["cfg"]
    assert (cfg.max_steps, cfg.lora.dropout, cfg.lr) == (3, 0.1, 1e-4)
    assert main(["train", "--config", config, "lora.rank=8"]) == 2
    assert "lora.rank: unknown setting" in capsys.readouterr().err


def test_loader_and_errors_are_ground_floor():
    """repoloom.config and repoloom.errors import nothing of repoloom (every layer may use them),
    and the fetch package imports nothing above the corpus part."""
    import ast

    src = ROOT / "src" / "repoloom"

    def imported(path: Path) -> set[str]:
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        return {n for n in names if n.split(".")[0] == "repoloom"}

    assert imported(src / "config.py") == set() and imported(src / "errors.py") == set()
    allowed = ("repoloom.corpus", "repoloom.errors", "repoloom.io", "repoloom.progress")
    for path in (src / "corpus" / "fetch").glob("*.py"):
        assert all(n.startswith(allowed) for n in imported(path)), path.name
