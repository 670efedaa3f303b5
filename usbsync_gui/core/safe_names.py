"""File names that every common USB filesystem (FAT32, exFAT, NTFS, ext4) and Windows can store and open.

Characters, on every drive (sticks move between computers), from Microsoft's "Naming Files, Paths, and
Namespaces":
* forbidden characters ``" * / : < > ? \\ |`` and control characters U+0000-U+001F become ``_``;
* reserved device names (CON, PRN, AUX, NUL, COM1-9, LPT1-9), with or without an extension, get a ``_``
  appended to the stem (``CON.txt`` -> ``CON_.txt``);
* trailing dots and spaces, which Windows strips silently, are replaced by ``_``;
* lone surrogates (U+D800-U+DFFF) become ``_``: Python decodes the bytes of a Linux name that are not valid
  UTF-8 as U+DC80-U+DCFF (``surrogateescape``, PEP 383), and no filesystem here can store them as a name
  (FAT/exFAT/NTFS hold UTF-16, ext4 names get UTF-8 from usbsync). The original name stays recorded in the
  state database; the name on the drive is always valid Unicode.

Lengths, per filesystem (:func:`rules_for`): FAT, exFAT and NTFS count UTF-16 code units, at most 255 per name
(exFAT spec 7.7; FAT long names), and the path from the drive's root is kept within 255 units so Windows tools
limited to MAX_PATH (260 with ``E:\\`` and the NUL) can open it. Linux filesystems (ext4, btrfs, xfs) count
bytes of UTF-8: 255 per name, 4095 per path (NAME_MAX, PATH_MAX). Too-long names and paths are shortened
deterministically: the extension is kept and 8 hex digits of the BLAKE3 of the original are added, so two long
names stay distinct and the same name always maps to the same result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import blake3

_FORBIDDEN = re.compile(r'[\x00-\x1f"*/:<>?\\|\ud800-\udfff]')
_RESERVED = (
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)
MIN_SHORTENED = 16  # a shortened component keeps at least this many units before its hash


@dataclass(frozen=True)
class NameRules:
    """Length limits of a filesystem. ``units`` is ``"utf16"`` (code units) or ``"utf8"`` (bytes)."""

    units: str
    max_name: int
    max_path: int

    def size(self, s: str) -> int:
        if self.units == "utf16":
            return len(s.encode("utf-16-le", "surrogatepass")) // 2
        return len(s.encode("utf-8", "surrogatepass"))


WINDOWS_FAMILY = NameRules("utf16", 255, 255)
POSIX_FAMILY = NameRules("utf8", 255, 4095)
_WINDOWS_TYPES = {"vfat", "msdos", "fat", "fat12", "fat16", "fat32", "exfat", "ntfs", "ntfs3", "fuseblk", ""}


def rules_for(fs_type: str) -> NameRules:
    """Limits for a filesystem type as blkid/psutil name it; unknown types get the stricter FAT/NTFS limits."""
    t = fs_type.lower()
    if t in _WINDOWS_TYPES or t.startswith(("fuse", "fat")):
        return WINDOWS_FAMILY
    return (
        POSIX_FAMILY
        if t in {"ext2", "ext3", "ext4", "btrfs", "xfs", "f2fs", "jfs", "reiserfs", "zfs", "tmpfs"}
        else WINDOWS_FAMILY
    )


def _truncate(s: str, limit: int, rules: NameRules) -> str:
    out, used = [], 0
    for ch in s:
        n = rules.size(ch)
        if used + n > limit:
            break
        out.append(ch)
        used += n
    return "".join(out)


def _shorten(safe: str, original: str, limit: int, rules: NameRules) -> str:
    """``safe`` cut to ``limit`` units, keeping a short extension, plus ``~`` and 8 hex digits of BLAKE3."""
    digest = blake3.blake3(original.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    suffix = PurePosixPath(safe).suffix
    if rules.size(suffix) > 16:  # an "extension" that long is just part of the name
        suffix = ""
    keep = max(1, limit - rules.size(suffix) - 9)
    return f"{_truncate(safe[: len(safe) - len(suffix)], keep, rules)}~{digest}{suffix}"


def safe_component(name: str, rules: NameRules = WINDOWS_FAMILY) -> str:
    """One path component made safe (see module doc). Never returns an empty string, '.' or '..'."""
    safe = _FORBIDDEN.sub("_", name)
    stripped = safe.rstrip(". ")
    if stripped != safe:
        safe = stripped + "_" * (len(safe) - len(stripped))
    if not safe:
        safe = "_"
    stem, dot, ext = safe.partition(".")
    if stem.upper() in _RESERVED:
        safe = f"{stem}_{dot}{ext}"
    if rules.size(safe) > rules.max_name:
        safe = _shorten(safe, name, rules.max_name, rules)
    return safe


def safe_relpath(relpath: str, rules: NameRules = WINDOWS_FAMILY, prefix: str = "") -> str:
    """``prefix`` (a folder on the drive, already safe) joined with ``relpath`` ('/'-separated) made safe, the
    whole within ``rules.max_path``. Directories are shortened before the file name."""
    originals = [p for p in relpath.replace("\\", "/").split("/") if p not in ("", ".", "..")] or ["_"]
    parts = [safe_component(p, rules) for p in originals]
    head = [p for p in prefix.split("/") if p]

    def total() -> int:
        return sum(rules.size(p) for p in head + parts) + len(head) + len(parts) - 1

    while total() > rules.max_path:
        excess = total() - rules.max_path
        # The longest component that can still be shortened, directories first.
        candidates = [i for i in range(len(parts) - 1) if rules.size(parts[i]) > MIN_SHORTENED + 9]
        if not candidates and rules.size(parts[-1]) > MIN_SHORTENED + 9:
            candidates = [len(parts) - 1]
        if not candidates:
            break  # cannot get shorter; the filesystem will refuse and the job says so
        i = max(candidates, key=lambda k: rules.size(parts[k]))
        target = max(MIN_SHORTENED + 9, rules.size(parts[i]) - excess)
        parts[i] = _shorten(parts[i], originals[i], target, rules)
    return "/".join(head + parts)


def numbered(relpath: str, n: int, rules: NameRules = WINDOWS_FAMILY) -> str:
    """``dir/name.ext`` -> ``dir/name (n).ext``: the name used when ``relpath`` is taken by a file we did not write."""
    p = PurePosixPath(relpath)
    suffix = p.suffix if p.stem else ""
    stem = p.name[: len(p.name) - len(suffix)] if suffix else p.name
    tag = f" ({n})"
    room = rules.max_name - rules.size(tag) - rules.size(suffix)
    if rules.size(stem) > room:
        stem = _truncate(stem, room, rules)
    name = safe_component(f"{stem}{tag}{suffix}", rules)
    return str(p.with_name(name)) if str(p.parent) != "." else name
