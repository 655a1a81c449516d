"""benchdata: the raw-record floor under evaluate and corpus decontamination."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from repoloom import benchdata
from repoloom.benchdata import hub, multiple, pal_math

PACKAGE = Path(benchdata.__file__).parent
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "benchmarks"


def test_benchdata_imports_only_io_of_repoloom():
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith("repoloom"):
                    top = name.split(".")[1] if "." in name else ""
                    assert top in ("benchdata", "io"), f"{path.name} imports {name}"


def test_old_paths_are_the_same_objects():
    from repoloom.evaluate import data as old_data
    from repoloom.evaluate import hub as old_hub
    from repoloom.evaluate.benchmarks import mbpp as old_mbpp
    from repoloom.evaluate.benchmarks import pal_math as old_pal

    assert old_hub is hub  # patching repoloom.benchdata.hub reaches every loader
    assert old_data.DataNotFound is benchdata.DataNotFound
    assert old_mbpp.load_mbpp_records is benchdata.load_mbpp_records
    assert old_pal.SETS is pal_math.SETS and old_pal.math_records is pal_math.math_records


def test_multiple_keys_and_records(tmp_path, monkeypatch):
    (tmp_path / "humaneval").mkdir()
    (tmp_path / "multipl-e").mkdir()
    row = {"name": "HumanEval_0_x", "prompt": "p", "tests": "t"}
    (tmp_path / "humaneval" / "humaneval-java.jsonl").write_text(json.dumps(row) + "\n")
    (tmp_path / "multipl-e" / "humaneval-rs.jsonl").write_text(json.dumps(row) + "\n")
    (tmp_path / "humaneval" / "humaneval-python.jsonl").write_text(json.dumps(row) + "\n")
    assert benchdata.local_multiple_keys(tmp_path) == ["java", "rs"]
    assert benchdata.multiple_records("rs", tmp_path) == [row]
    (tmp_path / "humaneval" / "humaneval-cpp.jsonl").write_text('{"name": "x"}\n')
    with pytest.raises(benchdata.DataNotFound, match="record without name/prompt/tests"):
        benchdata.multiple_records("cpp", tmp_path)
    # no local copy: the hub, through the module attribute (so a stub reaches it)
    calls = []
    monkeypatch.setattr(hub, "hub_records", lambda *a: calls.append(a) or [row])
    assert multiple.multiple_records("go", tmp_path) == [row]
    assert calls[0][:2] == ("nuprl/MultiPL-E", "humaneval-go/*")


def test_math_records_local_then_hub(tmp_path, monkeypatch):
    folder = tmp_path / "pal-math" / "gsm8k"
    folder.mkdir(parents=True)
    (folder / "test.json").write_text('{"question": "q", "answer": "#### 4"}\n')
    rows, where = benchdata.math_records(benchdata.MATH_SETS["gsm8k"], tmp_path)
    assert rows == [("gsm8k/0", {"question": "q", "answer": "#### 4"})]
    assert where == str(folder / "test.json")
    with pytest.raises(benchdata.DataNotFound, match="no public source"):
        benchdata.math_records(benchdata.MATH_SETS["svamp"], tmp_path)
    monkeypatch.setattr(hub, "hub_records", lambda *a: [{"input": "i", "target": 1}])
    rows, where = benchdata.math_records(benchdata.MATH_SETS["gsm-hard"], None)
    assert rows == [("gsm-hard/0", {"input": "i", "target": 1})]
    assert where == "hub:reasoning-machines/gsm-hard"


def test_humaneval_records_normalise_ids_and_entry_points(tmp_path):
    rec = {"task_id": "Python/3", "prompt": "def f(x):\n", "test": "def check(c):\n    pass\n"}
    (tmp_path / "HumanEval.jsonl").write_text(json.dumps(rec) + "\n")
    path = benchdata.humaneval_file(tmp_path)
    [out] = benchdata.humaneval_records(path)
    assert out["task_id"] == "HumanEval/3" and out["entry_point"] == "f"


@pytest.mark.skipif(not SHARED.is_dir(), reason="public benchmark files (../shared) absent")
def test_real_files_load_as_evaluate_loads_them():
    from repoloom.evaluate.benchmarks import get

    for name, key in (("humaneval-java", "java"), ("humaneval-cpp", "cpp")):
        tasks = get(name).load(SHARED)
        assert [t.data for t in tasks] == benchdata.multiple_records(key, SHARED)
    assert len(benchdata.load_mbpp_records(SHARED)) == 974
    stems = ("HumanEval-SingleLineInfilling", "HumanEval-RandomSpanInfillingLight")
    assert [len(benchdata.infilling_records(s, SHARED)) for s in stems] == [1033, 164]
