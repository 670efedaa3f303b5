import sys
from dataclasses import replace
from pathlib import Path

import pytest

from usbsync_gui.core.config import (
    DEFAULT_RESCAN_INTERVAL_S,
    ConfigError,
    DriveConfig,
    load_config,
    new_config,
    parse_config,
    save_config,
)

P = Path("/x/config.toml")
# An absolute folder on this OS, as TOML text: on Windows one needs a drive ("/a" is relative to the current one).
A = "C:/a" if sys.platform == "win32" else "/a"


def _on_this_os(text: str) -> str:
    return text.replace('"/a"', f'"{A}"').replace('"/data/out"', f'"{A}/data/out"')


def test_defaults_ship_the_five_categories():
    c = parse_config(_on_this_os('sources = ["/data/out"]\n'), P)
    assert [k.name for k in c.categories] == ["images", "videos", "audio", "documents", "archives"]
    assert c.rescan_interval_s == DEFAULT_RESCAN_INTERVAL_S == 7200
    assert c.heartbeat_interval_s == 300


def test_round_trip(tmp_path):
    c = new_config([tmp_path / "out"]).with_drive(DriveConfig("Photos", "abc", ("images",)))
    path = tmp_path / "config.toml"
    save_config(c, path)
    again = load_config(path)
    assert again == c
    assert again.drive_by_name("photos").id == "abc"


def test_syntax_error_names_file_and_line():
    with pytest.raises(ConfigError) as e:
        parse_config(_on_this_os('sources = ["/a"]\n\nstability_window_seconds = = 3\n'), P)
    assert str(e.value).startswith(f"{P}:3: TOML syntax error")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('sources = ["/a"]\nstability_window = 3\n', "/x/config.toml:2: stability_window: unknown key"),
        ("sources = []\n", "sources: at least one source folder"),
        ('sources = ["rel/dir"]\n', "must be an absolute path"),
        (
            'sources = ["/a"]\nrescan_interval_seconds = "often"\n',
            "rescan_interval_seconds: must be a number",
        ),
        (
            'sources = ["/a"]\n[[drives]]\nname = "A"\nid = "1"\ncategories = ["images"]\n'
            '[[drives]]\nname = "B"\nid = "2"\ncategories = ["fotos"]\n',
            "/x/config.toml:9: drives[1].categories: unknown category 'fotos'",
        ),
        (
            'sources = ["/a"]\n[[rules]]\npattern = "*.raw"\ncategory = "nope"\n',
            "rules[0].category: unknown category 'nope'",
        ),
        ('sources = ["/a"]\n[categories.images]\nmime = []\n', "categories.images: needs at least one"),
        (
            'sources = ["/a"]\n[metrics]\nenabled = "yes"\n',
            "/x/config.toml:3: metrics.enabled: must be true or",
        ),
        (
            'sources = ["/a"]\n[metrics]\nport = 70000\n',
            "metrics.port: must be a port number from 1 to 65535",
        ),
        ('sources = ["/a"]\n[metrics]\naddress = "localhost"\n', "metrics.address: must be an IP address"),
        ('sources = ["/a"]\n[metrics]\npath = "/m"\n', "metrics.path: unknown key (expected enabled"),
    ],
)
def test_invalid_configs_are_one_line_with_key(text, expected):
    with pytest.raises(ConfigError) as e:
        parse_config(_on_this_os(text), P)
    assert expected.replace("/x/config.toml", str(P)) in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_config_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match="usbsync init"):
        load_config(tmp_path / "none.toml")


def test_metrics_are_off_by_default_and_round_trip(tmp_path):
    from usbsync_gui.core.config import MetricsConfig

    c = new_config([tmp_path / "out"])
    assert c.metrics == MetricsConfig(enabled=False, port=9464, address="127.0.0.1")
    path = tmp_path / "config.toml"
    save_config(c, path)
    assert "[metrics]" not in path.read_text()  # the default is not written out
    on = replace(c, metrics=MetricsConfig(True, 9500, "0.0.0.0"))
    save_config(on, path)
    assert load_config(path).metrics == MetricsConfig(True, 9500, "0.0.0.0")
