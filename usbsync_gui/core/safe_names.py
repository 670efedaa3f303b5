"""File names that every common USB filesystem (FAT32, exFAT, NTFS) and Windows can store and open.

Rules from Microsoft's "Naming Files, Paths, and Namespaces" and the exFAT specification:
* forbidden characters ``" * / : < > ? \\ |`` and control characters U+0000-U+001F become ``_``;
* reserved device names (CON, PRN, AUX, NUL, COM1-9, LPT1-9), with or without an extension, get a ``_``
  appended to the stem (``CON.txt`` -> ``CON_.txt``);
* trailing dots and spaces, which Windows strips silently, are replaced by ``_``;
* each component is at most 255 UTF-16 code units; longer names are shortened deterministically, keeping the
  extension and adding 8 hex digits of the BLAKE3 of the original name so two long names stay distinct.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import blake3

MAX_NAME_UTF16 = 255
_FORBIDDEN = re.compile(r'[\x00-\x1f"*/:<>?\\|]')
_RESERVED = (
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _truncate_utf16(s: str, units: int) -> str:
    out = []
    used = 0
    for ch in s:
        n = _utf16_len(ch)
        if used + n > units:
            break
        out.append(ch)
        used += n
    return "".join(out)


def safe_component(name: str, max_units: int = MAX_NAME_UTF16) -> str:
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
    if _utf16_len(safe) > max_units:
        digest = blake3.blake3(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        suffix = PurePosixPath(safe).suffix
        if _utf16_len(suffix) > 32:  # an "extension" that long is just part of the name
            suffix = ""
        keep = max_units - _utf16_len(suffix) - 9
        safe = f"{_truncate_utf16(safe[: len(safe) - len(suffix)], keep)}~{digest}{suffix}"
    return safe


def safe_relpath(relpath: str) -> str:
    """A '/'-separated relative path with every component made safe."""
    parts = [p for p in relpath.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(safe_component(p) for p in parts if p != "..")


def numbered(relpath: str, n: int) -> str:
    """``dir/name.ext`` -> ``dir/name (n).ext``: the name used when ``relpath`` is taken by a file we did not write."""
    p = PurePosixPath(relpath)
    suffix = p.suffix if p.stem else ""
    stem = p.name[: len(p.name) - len(suffix)] if suffix else p.name
    name = safe_component(f"{stem} ({n}){suffix}")
    return str(p.with_name(name)) if str(p.parent) != "." else name
