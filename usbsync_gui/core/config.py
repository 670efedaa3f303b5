"""The TOML configuration: load, validate, write.

Read with :mod:`tomllib`, written with ``tomli_w``. Every problem is reported as a :class:`ConfigError` whose
``str()`` is one line naming the file and either the line (syntax errors, and semantic errors where the key
can be found in the text) or the offending key, e.g. ``/home/u/.config/usbsync/config.toml:14: drives[1]:
unknown category 'fotos'``. Front ends print that line and exit with status 2.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from usbsync_gui.core import replace_file

DEFAULT_DRIVE_FOLDER = "USBSync"
DEFAULT_STABILITY_WINDOW_S = 2.0
DEFAULT_RESCAN_INTERVAL_S = 2 * 60 * 60
DEFAULT_HEARTBEAT_INTERVAL_S = 5 * 60
NOTIFICATION_KINDS = (
    "drive_wanted",
    "safe_to_unplug",
    "drive_full",
    "failures",
    "source_missing",
    "problems",
    "new_drive",
)
# Safety net only, so slow: OS signals (mountinfo on Linux, WM_DEVICECHANGE on Windows) report mounts within
# milliseconds, and each poll wakes the engine. Where those signals are not available the poll is 1 s.
DEFAULT_VOLUME_POLL_S = 60.0

# Partial downloads, editor lock files and OS litter: copying them would ship half-files and junk.
DEFAULT_EXCLUDE = (
    "*.part",
    "*.partial",
    "*.crdownload",
    "*.tmp",
    "~$*",
    ".~lock.*",
    ".DS_Store",
    "Thumbs.db",
    "desktop.ini",
)


@dataclass(frozen=True)
class Category:
    """A kind of file: MIME type patterns (fnmatch, e.g. ``image/*``) and file extensions (no dot, lower case)."""

    name: str
    mime: tuple[str, ...]
    extensions: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """A user rule: files whose name or relative path matches ``pattern`` (fnmatch) go to ``category``."""

    pattern: str
    category: str


@dataclass(frozen=True)
class DriveConfig:
    """A registered drive: its marker id, the categories it holds and its destination folder on the volume."""

    name: str
    id: str
    categories: tuple[str, ...]
    folder: str = DEFAULT_DRIVE_FOLDER
    auto_eject: bool = False  # eject (unmount, power off) when its queue is empty after a sync


DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category(
        "images",
        ("image/*",),
        tuple(
            [
                "jpg",
                "jpeg",
                "png",
                "gif",
                "bmp",
                "tif",
                "tiff",
                "webp",
                "heic",
                "heif",
                "avif",
                "svg",
                "cr2",
                "cr3",
                "nef",
                "arw",
                "dng",
                "raf",
                "orf",
                "rw2",
                "pef",
                "srw",
            ]
        ),
    ),
    Category(
        "videos",
        ("video/*",),
        tuple(["mp4", "m4v", "mov", "avi", "mkv", "webm", "mts", "m2ts", "3gp", "wmv", "mpg", "mpeg"]),
    ),
    Category(
        "audio",
        ("audio/*",),
        tuple(["mp3", "flac", "wav", "m4a", "aac", "ogg", "oga", "opus", "wma", "aif", "aiff"]),
    ),
    Category(
        "documents",
        (
            "application/pdf",
            "text/plain",
            "text/csv",
            "text/markdown",
            "text/rtf",
            "application/rtf",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.*",
            "application/vnd.oasis.opendocument.*",
            "application/epub+zip",
        ),
        tuple(
            [
                "pdf",
                "txt",
                "md",
                "csv",
                "rtf",
                "doc",
                "docx",
                "xls",
                "xlsx",
                "ppt",
                "pptx",
                "odt",
                "ods",
                "odp",
                "epub",
            ]
        ),
    ),
    Category(
        "archives",
        (
            "application/zip",
            "application/x-tar",
            "application/gzip",
            "application/x-gzip",
            "application/x-bzip2",
            "application/x-xz",
            "application/zstd",
            "application/x-7z-compressed",
            "application/x-rar",
            "application/vnd.rar",
        ),
        tuple(["zip", "tar", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar"]),
    ),
)


@dataclass(frozen=True)
class MetricsConfig:
    """``[metrics]``: Prometheus text format at ``http://ADDRESS:PORT/metrics`` (engine/metrics.py). Off by
    default; with it off no socket is opened. Only an explicit ``address`` binds beyond this computer."""

    enabled: bool = False
    port: int = (
        9464  # the port Prometheus' wiki lists for usbsync's kind of exporter range; any free one works
    )
    address: str = "127.0.0.1"


@dataclass(frozen=True)
class AlertsConfig:
    """``[alerts]``: when waiting files need attention although nothing failed (a drive not plugged in for too
    long): more than ``waiting_files`` waiting, or one waiting longer than ``waiting_age_hours``. 0: never."""

    waiting_files: int = 1000
    waiting_age_hours: float = 72.0


@dataclass(frozen=True)
class Config:
    """A validated configuration. Times are in seconds; ``max_copy_rate_mib_s`` is MiB/s, 0 for unlimited."""

    sources: tuple[Path, ...]
    categories: tuple[Category, ...] = DEFAULT_CATEGORIES
    rules: tuple[Rule, ...] = ()
    drives: tuple[DriveConfig, ...] = ()
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    stability_window_s: float = DEFAULT_STABILITY_WINDOW_S
    rescan_interval_s: float = DEFAULT_RESCAN_INTERVAL_S
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    max_copy_rate_mib_s: float = 0.0
    volume_poll_s: float = DEFAULT_VOLUME_POLL_S
    notifications: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(NOTIFICATION_KINDS, True))
    metrics: MetricsConfig = MetricsConfig()
    alerts: AlertsConfig = AlertsConfig()
    path: Path | None = field(default=None, compare=False)

    def category(self, name: str) -> Category | None:
        return next((c for c in self.categories if c.name == name), None)

    def drive_by_name(self, name: str) -> DriveConfig | None:
        """The drive called ``name``, compared by :func:`drive_name_key` (case and normalisation ignored)."""
        folded = drive_name_key(name)
        return next((d for d in self.drives if drive_name_key(d.name) == folded), None)

    def drive_by_id(self, drive_id: str) -> DriveConfig | None:
        return next((d for d in self.drives if d.id == drive_id), None)

    def drives_for(self, category: str) -> tuple[DriveConfig, ...]:
        """The drives that hold ``category``, in config order (each receives its own copy)."""
        return tuple(d for d in self.drives if category in d.categories)

    def with_drive(self, drive: DriveConfig) -> Config:
        """A copy with ``drive`` added, or replacing the drive of the same id."""
        others = tuple(d for d in self.drives if d.id != drive.id)
        return replace(self, drives=(*others, drive))


class ConfigError(Exception):
    """A config that cannot be read or is invalid. ``str()`` is one line: ``FILE[:LINE]: [KEY: ]MESSAGE``."""

    def __init__(self, path: Path | str, message: str, line: int | None = None, key: str | None = None):
        self.path = Path(path)
        self.message = message
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else f"{self.path}"
        what = f"{self.key}: {self.message}" if self.key else self.message
        return f"{where}: {what}"


_TOP_KEYS = {
    "sources",
    "include",
    "exclude",
    "stability_window_seconds",
    "rescan_interval_seconds",
    "heartbeat_interval_seconds",
    "max_copy_rate_mib_s",
    "volume_poll_seconds",
    "notifications",
    "metrics",
    "alerts",
    "categories",
    "rules",
    "drives",
}
_CATEGORY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
DRIVE_NAME_MAX = 64


def drive_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a drive name, as a phrase for the user, or None when it can.

    The one rule for drive names, used by the config parser, ``register-drive``, the wizard and the drives
    dialog: 1 to :data:`DRIVE_NAME_MAX` (64) characters (code points), every one printable in the sense of
    :meth:`str.isprintable` (letters, marks, digits, punctuation and symbols of any script, and the ASCII
    space; no control, format, surrogate, private-use or unassigned code points, and no other separators such
    as tabs, line breaks or no-break spaces, which look like a space but do not type like one), and no
    space at either end. So ``Fotos (Oma)``, ``Ärzte`` and ``写真`` are names; ``" Fotos"`` and ``"a\tb"``
    are not. Names are compared case-insensitively after NFC normalisation (:func:`drive_name_key`).
    """
    if not isinstance(name, str) or not name:
        return "must be a non-empty name"
    if len(name) > DRIVE_NAME_MAX:
        return f"must be at most {DRIVE_NAME_MAX} characters, got {len(name)}"
    if name != name.strip(" "):
        return "must not start or end with a space"
    bad = next((ch for ch in name if not ch.isprintable()), None)
    if bad is not None:
        return f"must not contain the invisible or control character U+{ord(bad):04X}"
    return None


def drive_name_key(name: str) -> str:
    """What two drive names are compared by: NFC-normalised and case-folded (``Fotos`` = ``FOTOS``)."""
    return unicodedata.normalize("NFC", name).casefold()


def unique_drive_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base 2``, ``base 3`` ... : the first whose :func:`drive_name_key` is not in ``taken`` (a set
    of keys), so two sticks labelled PHOTOS are suggested "Photos" and "Photos 2"."""
    if drive_name_key(base) not in taken:
        return base
    n = 2
    while drive_name_key(f"{base} {n}") in taken:
        n += 1
    return f"{base} {n}"


def default_drive_name(label: str, fallback: str = "Drive") -> str:
    """A valid drive name suggested from a volume label (or mount folder name): title-cased, with runs of
    white space and unprintable characters made one space, trimmed and cut to :data:`DRIVE_NAME_MAX`;
    ``fallback`` when nothing printable is left."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in label)
    name = " ".join(cleaned.split()).title()[:DRIVE_NAME_MAX].strip(" ")
    return name if drive_name_problem(name) is None else fallback


class _Validator:
    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(self.path, message, line=self._line_of(key), key=key)

    def _line_of(self, key: str) -> int | None:
        """Best-effort line of a dotted key like ``drives[1].categories`` or ``categories.images.mime``."""
        parts = re.findall(r"[^.\[\]]+|\[\d+\]", key)
        start = 0
        if len(parts) >= 2 and parts[1].startswith("["):  # array of tables: find the Nth header
            index = int(parts[1][1:-1])
            header = re.compile(rf"^\s*\[\[\s*{re.escape(parts[0])}\s*\]\]")
            hits = [i for i, line in enumerate(self.lines) if header.match(line)]
            if index >= len(hits):
                return None
            start = hits[index]
            leaf = parts[2] if len(parts) > 2 else None
        elif len(parts) >= 2 and parts[0] == "categories":
            header = re.compile(rf"^\s*\[\s*categories\.\"?{re.escape(parts[1])}\"?\s*\]")
            hit = next((i for i, line in enumerate(self.lines) if header.match(line)), None)
            if hit is None:
                return None
            start = hit
            leaf = parts[2] if len(parts) > 2 else None
        elif len(parts) >= 2:  # a key of a plain table: [metrics] / [notifications]
            header = re.compile(rf"^\s*\[\s*{re.escape(parts[0])}\s*\]")
            hit = next((i for i, line in enumerate(self.lines) if header.match(line)), None)
            if hit is None:
                return None
            start = hit
            leaf = parts[1]
        else:
            leaf = parts[0] if parts else None
        if leaf is None:
            return start + 1
        key_re = re.compile(rf"^\s*\"?{re.escape(leaf)}\"?\s*=")
        for i in range(start, len(self.lines)):
            if key_re.match(self.lines[i]):
                return i + 1
        return start + 1 if start else None

    def str_list(
        self, raw: Mapping[str, Any], key: str, where: str, default: Iterable[str]
    ) -> tuple[str, ...]:
        if key not in raw:
            return tuple(default)
        value = raw[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(f"{where}{key}", "must be a list of non-empty strings")
        return tuple(value)

    def number(self, raw: Mapping[str, Any], key: str, default: float, minimum: float) -> float:
        if key not in raw:
            return default
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number of seconds, got {value!r}")
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum:g}, got {value!r}")
        return float(value)


def parse_config(text: str, path: Path) -> Config:
    """Parse and validate config text. Raises :class:`ConfigError` (one line, file and line or key)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        line = int(m.group(1)) if m else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        msg = re.sub(r"\s*\(at end of document\)", " (at end of file)", msg)
        raise ConfigError(path, f"TOML syntax error: {msg}", line=line) from None
    v = _Validator(path, text)

    for key in raw:
        if key not in _TOP_KEYS:
            raise v.fail(key, "unknown key (check the spelling)")

    sources_raw = v.str_list(raw, "sources", "", ())
    if not sources_raw:
        raise v.fail("sources", "at least one source folder is required")
    sources = tuple(Path(os.path.expanduser(s)) for s in sources_raw)
    for s in sources:
        if not s.is_absolute():
            raise v.fail("sources", f"source folder must be an absolute path: {s}")

    categories: tuple[Category, ...] = DEFAULT_CATEGORIES
    if "categories" in raw:
        cats_raw = raw["categories"]
        if not isinstance(cats_raw, dict) or not cats_raw:
            raise v.fail("categories", "must be a table of [categories.NAME] tables")
        cats: list[Category] = []
        for name, body in cats_raw.items():
            where = f"categories.{name}."
            if not _CATEGORY_RE.match(name):
                raise v.fail(f"categories.{name}", "category names are letters, digits, space, _ . -")
            if not isinstance(body, dict):
                raise v.fail(f"categories.{name}", "must be a table with 'mime' and/or 'extensions'")
            for k in body:
                if k not in ("mime", "extensions"):
                    raise v.fail(f"{where}{k}", "unknown key (expected 'mime' or 'extensions')")
            mime = v.str_list(body, "mime", where, ())
            exts = tuple(e.lower().lstrip(".") for e in v.str_list(body, "extensions", where, ()))
            if not mime and not exts:
                raise v.fail(f"categories.{name}", "needs at least one MIME pattern or extension")
            cats.append(Category(name, mime, exts))
        categories = tuple(cats)
    names = {c.name for c in categories}

    rules: list[Rule] = []
    rules_raw = raw.get("rules", [])
    if not isinstance(rules_raw, list):
        raise v.fail("rules", "must be an array of [[rules]] tables")
    for i, r in enumerate(rules_raw):
        key = f"rules[{i}]"
        if not isinstance(r, dict) or set(r) != {"pattern", "category"}:
            raise v.fail(key, "each rule needs exactly 'pattern' and 'category'")
        if not isinstance(r["pattern"], str) or not r["pattern"]:
            raise v.fail(f"{key}.pattern", "must be a non-empty glob pattern")
        if r["category"] not in names:
            raise v.fail(f"{key}.category", f"unknown category {r['category']!r}")
        rules.append(Rule(r["pattern"], r["category"]))

    drives: list[DriveConfig] = []
    drives_raw = raw.get("drives", [])
    if not isinstance(drives_raw, list):
        raise v.fail("drives", "must be an array of [[drives]] tables")
    seen_names: set[str] = set()
    seen_ids: set[str] = set()
    for i, d in enumerate(drives_raw):
        key = f"drives[{i}]"
        if not isinstance(d, dict):
            raise v.fail(key, "must be a table")
        for k in d:
            if k not in ("name", "id", "categories", "folder", "auto_eject"):
                raise v.fail(f"{key}.{k}", "unknown key (expected name, id, categories, folder, auto_eject)")
        name = d.get("name")
        problem = drive_name_problem(name)
        if problem is not None or not isinstance(name, str):
            raise v.fail(f"{key}.name", f"drive name {problem}")
        if drive_name_key(name) in seen_names:
            raise v.fail(f"{key}.name", f"drive name {name!r} is used twice")
        seen_names.add(drive_name_key(name))
        drive_id = d.get("id")
        if not isinstance(drive_id, str) or not drive_id:
            raise v.fail(f"{key}.id", "missing drive id (register drives with 'usbsync register-drive')")
        if drive_id in seen_ids:
            raise v.fail(f"{key}.id", "the same drive id is registered twice")
        seen_ids.add(drive_id)
        dcats = v.str_list(d, "categories", f"{key}.", ())
        if not dcats:
            raise v.fail(f"{key}.categories", "a drive needs at least one category")
        for c in dcats:
            if c not in names:
                raise v.fail(f"{key}.categories", f"unknown category {c!r}")
        folder = d.get("folder", DEFAULT_DRIVE_FOLDER)
        if not isinstance(folder, str) or not folder.strip() or ".." in Path(folder).parts:
            raise v.fail(f"{key}.folder", "must be a relative folder name on the drive")
        if Path(folder).is_absolute():
            raise v.fail(f"{key}.folder", "must be relative to the drive's root")
        auto_eject = d.get("auto_eject", False)
        if not isinstance(auto_eject, bool):
            raise v.fail(f"{key}.auto_eject", "must be true or false")
        drives.append(DriveConfig(name, drive_id, dcats, folder.strip("/\\"), auto_eject))

    notifications = dict.fromkeys(NOTIFICATION_KINDS, True)
    notes_raw = raw.get("notifications", {})
    if not isinstance(notes_raw, dict):
        raise v.fail("notifications", "must be a table of kind = true/false")
    for k, on in notes_raw.items():
        if k not in NOTIFICATION_KINDS:
            raise v.fail(
                f"notifications.{k}", f"unknown notification (known: {', '.join(NOTIFICATION_KINDS)})"
            )
        if not isinstance(on, bool):
            raise v.fail(f"notifications.{k}", "must be true or false")
        notifications[k] = on

    metrics = _metrics(v, raw.get("metrics", {}))
    alerts = _alerts(v, raw.get("alerts", {}))

    return Config(
        sources=sources,
        categories=categories,
        rules=tuple(rules),
        drives=tuple(drives),
        include=v.str_list(raw, "include", "", ("*",)),
        exclude=v.str_list(raw, "exclude", "", DEFAULT_EXCLUDE),
        stability_window_s=v.number(raw, "stability_window_seconds", DEFAULT_STABILITY_WINDOW_S, 0.0),
        rescan_interval_s=v.number(raw, "rescan_interval_seconds", DEFAULT_RESCAN_INTERVAL_S, 10.0),
        heartbeat_interval_s=v.number(raw, "heartbeat_interval_seconds", DEFAULT_HEARTBEAT_INTERVAL_S, 1.0),
        max_copy_rate_mib_s=v.number(raw, "max_copy_rate_mib_s", 0.0, 0.0),
        volume_poll_s=v.number(raw, "volume_poll_seconds", DEFAULT_VOLUME_POLL_S, 0.2),
        notifications=notifications,
        metrics=metrics,
        alerts=alerts,
        path=path,
    )


def _alerts(v: _Validator, raw: object) -> AlertsConfig:
    if not isinstance(raw, dict):
        raise v.fail("alerts", "must be a table (waiting_files, waiting_age_hours)")
    for k in raw:
        if k not in ("waiting_files", "waiting_age_hours"):
            raise v.fail(f"alerts.{k}", "unknown key (expected waiting_files, waiting_age_hours)")
    files = raw.get("waiting_files", AlertsConfig.waiting_files)
    if isinstance(files, bool) or not isinstance(files, int) or files < 0:
        raise v.fail("alerts.waiting_files", f"must be a whole number, 0 for never, got {files!r}")
    hours = raw.get("waiting_age_hours", AlertsConfig.waiting_age_hours)
    if isinstance(hours, bool) or not isinstance(hours, int | float) or hours < 0:
        raise v.fail("alerts.waiting_age_hours", f"must be a number of hours, 0 for never, got {hours!r}")
    return AlertsConfig(files, float(hours))


def _metrics(v: _Validator, raw: object) -> MetricsConfig:
    if not isinstance(raw, dict):
        raise v.fail("metrics", "must be a table (enabled, port, address)")
    for k in raw:
        if k not in ("enabled", "port", "address"):
            raise v.fail(f"metrics.{k}", "unknown key (expected enabled, port, address)")
    enabled = raw.get("enabled", False)
    if not isinstance(enabled, bool):
        raise v.fail("metrics.enabled", "must be true or false")
    port = raw.get("port", MetricsConfig.port)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise v.fail("metrics.port", f"must be a port number from 1 to 65535, got {port!r}")
    address = raw.get("address", MetricsConfig.address)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise v.fail("metrics.address", f"must be an IP address such as 127.0.0.1, got {address!r}") from None
    return MetricsConfig(enabled, port, address)


def load_config(path: Path) -> Config:
    """Read and validate ``path``. Raises :class:`ConfigError` if it is missing, unreadable or invalid."""
    try:
        data = replace_file.read_bytes(path)  # not refused while Settings saves it on Windows
    except FileNotFoundError:
        raise ConfigError(path, "no configuration yet: run 'usbsync init --source DIR'") from None
    except OSError as exc:
        raise ConfigError(path, f"cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(path, "not UTF-8 text", line=line) from None
    return parse_config(text, path)


def config_to_dict(config: Config) -> dict[str, Any]:
    """The TOML document for ``config`` (keys in a stable, readable order)."""
    doc: dict[str, Any] = {
        "sources": [str(s) for s in config.sources],
        "include": list(config.include),
        "exclude": list(config.exclude),
        "stability_window_seconds": config.stability_window_s,
        "rescan_interval_seconds": config.rescan_interval_s,
        "heartbeat_interval_seconds": config.heartbeat_interval_s,
        "max_copy_rate_mib_s": config.max_copy_rate_mib_s,
        "volume_poll_seconds": config.volume_poll_s,
        "notifications": dict(config.notifications),
        "categories": {
            c.name: {"mime": list(c.mime), "extensions": list(c.extensions)} for c in config.categories
        },
    }
    if config.alerts != AlertsConfig():
        doc["alerts"] = {
            "waiting_files": config.alerts.waiting_files,
            "waiting_age_hours": config.alerts.waiting_age_hours,
        }
    if config.metrics != MetricsConfig():
        m = config.metrics
        doc["metrics"] = {"enabled": m.enabled, "port": m.port, "address": m.address}
    if config.rules:
        doc["rules"] = [{"pattern": r.pattern, "category": r.category} for r in config.rules]
    if config.drives:
        doc["drives"] = [
            {
                "name": d.name,
                "id": d.id,
                "categories": list(d.categories),
                "folder": d.folder,
                "auto_eject": d.auto_eject,
            }
            for d in config.drives
        ]
    return doc


def config_text(config: Config, path: Path) -> str:
    """The TOML text :func:`save_config` writes for ``config``, checked to load back: parsing it (as ``path``)
    must give a :class:`Config` equal to ``config``. Raises :class:`ConfigError` naming ``path`` and the key
    when it would not, so no writer (CLI, wizard, dialogs) can save a configuration that does not load."""
    body = "# usbsync configuration. Edit while usbsync is stopped, or it is re-read within seconds.\n"
    try:
        body += tomli_w.dumps(config_to_dict(config))
    except (TypeError, ValueError) as exc:  # a value TOML cannot hold (tomli_w refuses it)
        raise ConfigError(path, f"not saved: {exc}") from None
    try:
        back = parse_config(body, path)
    except ConfigError as exc:
        raise ConfigError(path, f"not saved, it would not load: {exc.message}", key=exc.key) from None
    if back != config:
        differs = next(
            (
                f.name
                for f in fields(Config)
                if f.compare and getattr(back, f.name) != getattr(config, f.name)
            ),
            "configuration",
        )
        raise ConfigError(path, "not saved: it would load back different", key=differs)
    return body


def save_config(config: Config, path: Path) -> None:
    """Write ``config`` to ``path`` atomically (temp file, fsync, rename), only if it loads back equal (see
    :func:`config_text`). Raises :class:`ConfigError` (nothing written) for one that would not, OSError when
    writing fails."""
    body = config_text(config, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        replace_file.replace(tmp, path)  # tried again while a reader holds it on Windows
    finally:
        tmp.unlink(missing_ok=True)


def new_config(sources: Iterable[Path]) -> Config:
    """A default configuration for ``sources`` with the shipped categories and no drives."""
    return Config(sources=tuple(Path(s).expanduser().resolve() for s in sources))


def update_config(path: Path, edit: Any) -> Config:
    """Apply ``edit`` (a function ``Config -> Config``) to the configuration as it is in ``path`` now, save the
    result (see :func:`save_config`) and return it.

    For front ends that hold a copy of the configuration (Settings, the drives dialog): each writes only its
    own change onto what is saved now, so a drive registered, or a setting saved, while the other window was
    open is kept. Raises :class:`ConfigError` (nothing written) like :func:`load_config` and
    :func:`save_config`, OSError when writing fails, and whatever ``edit`` raises.
    """
    new: Config = edit(load_config(path))
    save_config(new, path)
    return new
