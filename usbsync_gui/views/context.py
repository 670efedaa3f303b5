"""What the views share: paths, the current config, a read-only state connection for the GUI thread, and the
engine (whose signals they listen to and whose actions they call). Passed in explicitly, never looked up."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from usbsync_gui.core.config import Config, ConfigError, load_config
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.core.state import StateDB
from usbsync_gui.engine.engine import Engine


@dataclass
class ViewContext:
    paths: AppPaths
    config: Config
    db: StateDB
    engine: Engine | None = None
    _config_mtime: float = field(default=0.0, repr=False)

    def reopen_db(self) -> None:
        """Open the state database again (after the engine set a damaged one aside and started a new one)."""
        self.db.close()
        self.db = StateDB(self.paths.state_db)

    def drive_names(self) -> dict[str, str]:
        return {d.id: d.name for d in self.config.drives}

    def reload_config(self) -> Config:
        """Re-read the config if the file changed (the engine applies it too). Keeps the old one on errors."""
        try:
            m = os.stat(self.paths.config_file).st_mtime
        except OSError:
            return self.config
        if m != self._config_mtime:
            self._config_mtime = m
            # An invalid edit: the engine logs the one-line error; the views keep showing the last good config.
            with contextlib.suppress(ConfigError):
                self.config = load_config(self.paths.config_file)
        return self.config
