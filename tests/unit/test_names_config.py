"""Drive names: one rule (any script, spaces, parentheses), and no writer can save a config that does not load."""

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usbsync_gui.core.config import (
    DRIVE_NAME_MAX,
    ConfigError,
    DriveConfig,
    default_drive_name,
    drive_name_problem,
    load_config,
    new_config,
    save_config,
)


def _with_drive(tmp_path: Path, name: str):
    return new_config([tmp_path / "outbox"]).with_drive(DriveConfig(name, "id-1", ("images",)))


@pytest.mark.parametrize(
    "name", ["Fotos (Oma)", "Ärzte", "写真", "Photos", "a", "Omas Fotos – 2024", "x" * 64]
)
def test_names_of_any_script_with_spaces_and_parentheses_save_and_load(tmp_path, name):
    cfg = tmp_path / "config.toml"
    save_config(_with_drive(tmp_path, name), cfg)
    assert load_config(cfg).drives[0].name == name


@pytest.mark.parametrize("name", ["", " Fotos", "Fotos ", "a\tb", "a\nb", "a\x00b", "a\u200bb", "x" * 65])
def test_bad_names_are_refused_and_nothing_is_written(tmp_path, name):
    cfg = tmp_path / "config.toml"
    with pytest.raises(ConfigError) as exc:
        save_config(_with_drive(tmp_path, name), cfg)
    assert str(cfg) in str(exc.value) and "drives[0].name" in str(exc.value)
    assert not cfg.exists() and list(tmp_path.iterdir()) == []
    assert drive_name_problem(name) is not None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_save_accepts_exactly_the_names_the_rule_accepts_and_they_load_back(tmp_path_factory, name):
    tmp = tmp_path_factory.mktemp("n")
    cfg = tmp / "config.toml"
    config = _with_drive(tmp, name)
    if drive_name_problem(name) is None:
        save_config(config, cfg)
        assert load_config(cfg) == config
    else:
        with pytest.raises(ConfigError):
            save_config(config, cfg)
        assert not cfg.exists()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=100))
def test_default_name_from_any_label_is_valid(label):
    assert drive_name_problem(default_drive_name(label)) is None
    assert len(default_drive_name(label)) <= DRIVE_NAME_MAX


def test_a_config_that_would_load_differently_is_not_saved(tmp_path):
    cfg = tmp_path / "config.toml"
    config = _with_drive(tmp_path, "Photos")
    save_config(config, cfg)
    before = cfg.read_bytes()
    bad = replace(config, drives=(replace(config.drives[0], folder="USBSync/"),))  # loads back as "USBSync"
    with pytest.raises(ConfigError, match="drives: not saved"):
        save_config(bad, cfg)
    assert cfg.read_bytes() == before
    assert load_config(cfg) == config


def test_drive_names_compare_ignoring_case_and_normalisation(tmp_path):
    config = _with_drive(tmp_path, "Ärzte")
    assert config.drive_by_name("ÄRZTE") is not None
    assert config.drive_by_name("A\u0308rzte") is not None  # decomposed Ä
