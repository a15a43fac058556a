"""Reading files: missing, unreadable, not UTF-8, bad TOML all become ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybgp.config import ConfigError, load_config, loads_config, parse_config

GOOD = '[speaker]\nasn = 64512\nrouter-id = "198.18.0.1"\n'


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "pybgp.toml"
    path.write_text(GOOD)
    config = load_config(path)
    assert config.speaker.asn == 64512
    assert config.source == str(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == str(path)
    assert str(caught.value) == f"{path}: cannot read the file: No such file or directory"


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value) == f"{tmp_path}: cannot read the file: Is a directory"


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(GOOD.encode() + b"# caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: not UTF-8 text (byte {len(GOOD) + 5})"


def test_toml_syntax_error_in_a_file_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[speaker]\nasn = 1\nfoo bar = 2\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert caught.value.key == str(path)
    assert caught.value.message == (
        "invalid TOML: Expected '=' after a key in a key/value pair (at line 3, column 5)"
    )


def test_toml_syntax_error_in_a_string_is_keyed_by_source() -> None:
    with pytest.raises(ConfigError) as caught:
        loads_config("[speaker]\nasn = 1\nasn = 2\n", "node.toml")
    assert caught.value.key == "node.toml"
    assert caught.value.message.startswith("invalid TOML: ")
    assert "line 3" in caught.value.message


def test_semantic_errors_in_a_file_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "pybgp.toml"
    path.write_text(GOOD + "hold-time = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == "speaker.hold-time"


@pytest.mark.parametrize(
    ("value", "name"),
    [("1979-05-27", "a date"), ("1979-05-27T07:32:00Z", "a date-time"), ("07:32:00", "a time")],
)
def test_toml_dates_are_named_in_type_errors(value: str, name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads_config(GOOD + f"hold-time = {value}\n")
    assert str(caught.value) == f"speaker.hold-time: expected an integer, got {name}"


def test_parse_config_names_null_from_other_sources() -> None:
    data = {"speaker": {"asn": None, "router-id": "198.18.0.1"}}
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert str(caught.value) == "speaker.asn: expected an integer, got nothing"


def test_parse_config_rejects_a_non_mapping() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config([])  # type: ignore[arg-type]
    assert str(caught.value) == "expected a table, got an array"
