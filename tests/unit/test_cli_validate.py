"""`usbsync validate` says what the configuration holds, in words (the walk-through saw "5 categorys")."""

from __future__ import annotations

from usbsync_gui import cli
from usbsync_gui.core.config import new_config, save_config
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.units import plural


def test_validate_counts_in_plain_words(home, capsys):
    paths = app_paths()
    paths.ensure()
    out = home / "Outbox"
    out.mkdir()
    save_config(new_config([out]), paths.config_file)
    assert cli.main(["validate"]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"{paths.config_file}: OK (1 source, 5 categories, 0 drives)"), said


def test_plural_takes_an_irregular_form():
    assert [plural(1, "category", "categories"), plural(2, "category", "categories")] == [
        "1 category",
        "2 categories",
    ]
    assert [plural(1, "file"), plural(0, "file")] == ["1 file", "0 files"]
