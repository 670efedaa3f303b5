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
