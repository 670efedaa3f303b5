"""Human-readable figures for messages (decimal units, as file managers and drive labels use)."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    """``3400000000`` -> ``'3.4 GB'``; bytes below 1 kB stay exact (``'512 bytes'``)."""
    if n < 1000:
        return f"{int(n)} bytes" if n != 1 else "1 byte"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and ``word``, or its plural: ``many`` when given (irregular: "category", "categories"), else
    ``word`` + "s". "1 file", "2 files"."""
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"
