"""What the views share: paths, the current config, a read-only state connection for the GUI thread, and the
engine (whose signals they listen to and whose actions they call). Passed in explicitly, never looked up."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from usbsync_gui.core.config import Config, ConfigError, load_config
from usbsync_gui.core.paths import AppPaths
from usbsync_gui.core.state import StateDB
from usbsync_gui.engine.remote import RemoteEngine
from usbsync_gui.engine.summary_feed import LiveState, SummaryFeed
from usbsync_gui.engine.tasks import TaskRunner

if TYPE_CHECKING:  # the tray app's engine runs in its own process: this one need not load the engine's code
    from usbsync_gui.engine.engine import Engine


@dataclass
class ViewContext:
    paths: AppPaths
    config: Config
    db: StateDB
    engine: Engine | RemoteEngine | None = None  # in this process (tests, tools) or another (the tray app)
    runner: TaskRunner | None = None  # blocking work off the GUI thread (the engine's, when there is one)
    feed: SummaryFeed | None = (
        None  # the one state summary, pushed on change (the engine's, when there is one)
    )
    _config_mtime: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        # An engine in this process lends its runner and summary feed; the tray app passes its own.
        if self.runner is None:
            runner = getattr(self.engine, "runner", None)
            self.runner = runner if isinstance(runner, TaskRunner) else TaskRunner()
        if self.feed is None:
            feed = getattr(self.engine, "summary", None)
            if isinstance(feed, SummaryFeed):
                self.feed = feed
            else:  # no engine (tests, a view on its own): the state database alone, no drive plugged in
                self.feed = SummaryFeed(self.paths, self.runner, lambda: LiveState(self.config, {}, False))

    @property
    def tasks(self) -> TaskRunner:
        assert self.runner is not None
        return self.runner

    @property
    def summary(self) -> SummaryFeed:
        assert self.feed is not None
        return self.feed

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
