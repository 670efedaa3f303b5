"""A source folder and a fake-free 'drive' folder on the real filesystem, with a SyncService over them."""

from __future__ import annotations

from pathlib import Path

from usbsync_gui.core.config import DriveConfig, new_config
from usbsync_gui.core.copier import Target
from usbsync_gui.core.paths import app_paths
from usbsync_gui.core.service import SyncService
from usbsync_gui.core.volumes import write_marker


def make_service(tmp_path: Path, categories=("images",), **overrides):
    src = tmp_path / "out"
    src.mkdir(exist_ok=True)
    drive_dir = tmp_path / "drive"
    drive_dir.mkdir(exist_ok=True)
    marker = write_marker(drive_dir, "Photos")
    drive = DriveConfig("Photos", marker.drive_id, tuple(categories))
    config = new_config([src]).with_drive(drive)
    if overrides:
        from dataclasses import replace

        config = replace(config, **overrides)
    paths = app_paths({"USBSYNC_HOME": str(tmp_path / "home")})
    paths.ensure()
    svc = SyncService(paths, config)
    return svc, src, Target(drive, drive_dir, require_mount=False)  # a folder stands in for the volume
