"""Where usbsync keeps its config, state database, logs and lock.

By default these follow the platform's per-user conventions through platformdirs (XDG on Linux,
``%LOCALAPPDATA%`` on Windows). When the environment variable ``USBSYNC_HOME`` is set, every one of them
lives under that single folder instead; the tests and portable installs use this.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "usbsync"
HOME_ENV = "USBSYNC_HOME"


@dataclass(frozen=True)
class AppPaths:
    """The folders and files of one usbsync installation.

    Attributes:
        config_file: the TOML configuration (``config.toml``).
        state_dir: holds ``state.db`` (SQLite) and the instance lock.
        log_dir: holds ``file_watcher.log`` and ``file_operations.csv``.
        default_outbox: the source folder a new configuration starts with.
    """

    config_file: Path
    state_dir: Path
    log_dir: Path
    default_outbox: Path

    @property
    def state_db(self) -> Path:
        return self.state_dir / "state.db"

    @property
    def control_endpoint(self) -> str:
        """Where the running engine listens for commands (``usbsync eject``): a Unix socket path in the state
        folder, or on Windows a named-pipe name unique to this state folder."""
        return self._endpoint("usbsync", "control.sock")

    @property
    def gui_endpoint(self) -> str:
        """Where the tray app listens for a second start's "show" (its own channel: the engine's is another
        process's). As :attr:`control_endpoint`, with another name."""
        return self._endpoint("usbsync-gui", "gui.sock")

    def _endpoint(self, pipe_prefix: str, socket_name: str) -> str:
        """A local-socket endpoint of this home: ``socket_name`` in the state folder, or on Windows a named pipe
        called ``pipe_prefix`` and a hash of the state folder (pipe names are global)."""
        if os.name == "nt":
            import hashlib

            return f"{pipe_prefix}-" + hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:16]
        return str(self.state_dir / socket_name)

    @property
    def gui_lock_file(self) -> Path:
        """The tray app's single-instance lock (the engine, its child, holds :attr:`lock_file`)."""
        return self.state_dir / "usbsync-gui.lock"

    @property
    def gui_pid_file(self) -> Path:
        return self.state_dir / "usbsync-gui.pid"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "usbsync.lock"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "usbsync.pid"

    def ensure(self) -> None:
        """Create the config, state and log folders (not the outbox). Raises OSError if that fails."""
        for d in (self.config_file.parent, self.state_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)


def app_paths(environ: dict[str, str] | None = None) -> AppPaths:
    """Resolve the paths from ``USBSYNC_HOME`` if set (and non-empty), else from platformdirs."""
    env = os.environ if environ is None else environ
    home = env.get(HOME_ENV, "").strip()
    if home:
        root = Path(home).expanduser().resolve()
        return AppPaths(
            config_file=root / "config.toml",
            state_dir=root / "state",
            log_dir=root / "logs",
            default_outbox=root / "Outbox",
        )
    return AppPaths(
        config_file=Path(platformdirs.user_config_dir(APP, appauthor=False)) / "config.toml",
        state_dir=Path(platformdirs.user_state_dir(APP, appauthor=False)),
        log_dir=Path(platformdirs.user_log_dir(APP, appauthor=False)),
        default_outbox=Path.home() / "Outbox",
    )
