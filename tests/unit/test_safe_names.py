from hypothesis import given
from hypothesis import strategies as st

from usbsync_gui.core.safe_names import numbered, safe_component, safe_relpath

FORBIDDEN = set('"*/:<>?\\|') | {chr(i) for i in range(32)}
RESERVED = (
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)


def test_examples():
    assert safe_component('a:b?c*"d<e>f|g.txt') == "a_b_c__d_e_f_g.txt"
    assert safe_component("CON.txt") == "CON_.txt"
    assert safe_component("nul") == "nul_"
    assert safe_component("report. ") == "report__"
    assert safe_relpath("a/b:c/..//d.") == "a/b_c/d_"
    assert numbered("USBSync/a/x.jpg", 1) == "USBSync/a/x (1).jpg"
    assert numbered("noext", 2) == "noext (2)"


def test_long_names_shortened_deterministically_and_distinct():
    a = "é" * 300 + ".jpg"
    b = "é" * 299 + "x.jpg"
    sa, sb = safe_component(a), safe_component(b)
    assert sa == safe_component(a)
    assert sa != sb
    assert sa.endswith(".jpg")
    assert len(sa.encode("utf-16-le")) // 2 <= 255


@given(st.text(min_size=1, max_size=400))
def test_any_name_becomes_safe(name):
    s = safe_component(name)
    assert s and s not in (".", "..")
    assert not (set(s) & FORBIDDEN)
    assert not s.endswith((".", " "))
    assert s.split(".")[0].upper() not in RESERVED
    assert len(s.encode("utf-16-le", "surrogatepass")) // 2 <= 255
    assert safe_component(s) == s  # idempotent: a safe name stays as it is


from tests.conftest import byte_names  # noqa: E402
from usbsync_gui.core.safe_names import POSIX_FAMILY, WINDOWS_FAMILY, rules_for  # noqa: E402


def test_rules_per_filesystem():
    assert rules_for("ext4") is POSIX_FAMILY
    assert rules_for("exfat") is WINDOWS_FAMILY and rules_for("vfat") is WINDOWS_FAMILY
    assert rules_for("fuseblk") is WINDOWS_FAMILY  # unknown real type: the stricter limits


def test_ext4_counts_bytes_exfat_counts_utf16_units():
    name = "写真" * 50 + ".jpg"  # 100 CJK characters: 300 bytes of UTF-8, 100 UTF-16 units
    assert safe_component(name, WINDOWS_FAMILY) == name
    short = safe_component(name, POSIX_FAMILY)
    assert len(short.encode()) <= 255 and short.endswith(".jpg") and "~" in short


def test_long_paths_shorten_directories_first_deterministically():
    deep = "/".join(["a-rather-long-folder-name-" + str(i) * 20 for i in range(8)]) + "/IMG_0001.JPG"
    p = safe_relpath(deep, WINDOWS_FAMILY, prefix="USBSync")
    assert p == safe_relpath(deep, WINDOWS_FAMILY, prefix="USBSync")
    assert len(p.encode("utf-16-le")) // 2 <= 255
    assert p.startswith("USBSync/") and p.endswith("/IMG_0001.JPG")
    assert safe_relpath(deep, POSIX_FAMILY) == deep  # fits easily within 4095 bytes


@given(st.text(min_size=1, max_size=300))
def test_numbered_names_stay_within_limits(name):
    for rules in (WINDOWS_FAMILY, POSIX_FAMILY):
        n = numbered(safe_component(name, rules), 12, rules)
        assert rules.size(n) <= rules.max_name


_undecodable = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF, categories=["Cs"]),
    ),
    min_size=1,
    max_size=300,
)


@given(_undecodable)
def test_names_that_are_not_utf8_become_valid_unicode_on_every_filesystem(name):
    """A Linux name that is not valid UTF-8 arrives as a str with lone surrogates (PEP 383)."""
    for rules in (WINDOWS_FAMILY, POSIX_FAMILY):
        s = safe_component(name, rules)
        s.encode("utf-8")  # strict: no lone surrogate left
        s.encode("utf-16-le")
        assert rules.size(s) <= rules.max_name
        assert safe_relpath(f"dir/{name}", rules).encode("utf-8")


@byte_names
def test_undecodable_bytes_become_underscores():
    import os

    assert safe_component(os.fsdecode(b"caf\xe9.png"), POSIX_FAMILY) == "caf_.png"
    assert safe_component(os.fsdecode(b"\xff\xfe.png")) == "__.png"
