from pathlib import Path

import pytest
import yaml

from repoloom.corpus.config import ConfigError, CorpusConfig, config_from_dict, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_default_config_equals_the_built_in_defaults():
    assert load_config(ROOT / "configs/corpus/default.yaml") == CorpusConfig()


@pytest.mark.parametrize(
    "data,message",
    [
        (
            {"filters": {"max_avg_line_length": "abc"}},
            "filters.max_avg_line_length: expected a number",
        ),
        ({"filters": {"max_line_lenght": 3}}, "filters.max_line_lenght: unknown setting"),
        ({"order": {"mode": "random"}}, "order.mode: expected one of scc, paper"),
        ({"order": {"header_template": "# path"}}, "order.header_template: must contain {path}"),
        ({"read": {"max_file_bytes": 0}}, "read.max_file_bytes: must be positive"),
        ({"read": {"max_file_bytes": True}}, "read.max_file_bytes: expected an integer"),
        ({"filters": ["a"]}, "filters: expected a mapping"),
        ({"filters": {"data_languages": "json"}}, "filters.data_languages: expected a list"),
        ({"bogus": 1}, "bogus: unknown setting"),
    ],
)
def test_malformed_config_names_the_key(data, message):
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        config_from_dict(data)


def test_malformed_yaml_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("filters: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")


def test_partial_config_keeps_defaults_and_changes_fingerprint(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"filters": {"max_line_length": 2000}}))
    config = load_config(path)
    assert config.filters.max_line_length == 2000
    assert config.filters.max_avg_line_length == 100
    assert config.fingerprint() != CorpusConfig().fingerprint()
