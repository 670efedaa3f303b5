import fnmatch
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import mp3_bytes, pdf_bytes, png_bytes, wine_keeps_deleted_names
from usbsync_gui.core.classify import Classifier, magic_available
from usbsync_gui.core.config import DEFAULT_CATEGORIES, Rule

pytestmark = pytest.mark.skipif(not magic_available(), reason="libmagic (Debian libmagic1) is not installed")


@pytest.fixture
def clf():
    return Classifier(DEFAULT_CATEGORIES, (Rule("*.raw", "images"), Rule("scans/*", "documents")))


def test_content_wins_over_extension(tmp_path, clf):
    p = tmp_path / "x.txt"
    p.write_bytes(png_bytes())
    r = clf.classify(p)
    assert (r.category, r.mime, r.reason) == ("images", "image/png", "content")


def test_pdf_and_mp3_and_text(tmp_path, clf):
    (tmp_path / "a.bin").write_bytes(pdf_bytes())
    (tmp_path / "b").write_bytes(mp3_bytes())
    (tmp_path / "c.log").write_text("just some words\n")
    assert clf.classify(tmp_path / "a.bin").category == "documents"
    assert clf.classify(tmp_path / "b").category == "audio"
    assert clf.classify(tmp_path / "c.log").category == "documents"


def test_extension_only_when_content_says_nothing(tmp_path, clf):
    p = tmp_path / "clip.mp4"
    p.write_bytes(random.Random(1).randbytes(4096))  # no recognisable header
    r = clf.classify(p)
    assert r.mime == "application/octet-stream"
    assert (r.category, r.reason) == ("videos", "extension")
    q = tmp_path / "blob.qqq"
    q.write_bytes(random.Random(2).randbytes(4096))
    assert clf.classify(q).category is None


def test_user_rules_win(tmp_path, clf):
    p = tmp_path / "photo.raw"
    p.write_bytes(pdf_bytes())
    assert clf.classify(p).reason == "rule"
    assert clf.classify(p, "scans/photo.raw").category == "images"  # first rule matching wins
    q = tmp_path / "page.png"
    q.write_bytes(png_bytes())
    assert clf.classify(q, "scans/page.png").category == "documents"


def test_empty_file_falls_back_to_extension(tmp_path, clf):
    p = tmp_path / "empty.pdf"
    p.write_bytes(b"")
    assert clf.classify(p).category == "documents"


@wine_keeps_deleted_names
def test_classify_from_a_descriptor_reads_the_opened_file_not_the_name(tmp_path, clf):
    import os

    from usbsync_gui.core.source_paths import SourceFolders

    p = tmp_path / "x.bin"
    p.write_bytes(pdf_bytes() + random.Random(4).randbytes(3 << 20))  # large: not read into memory
    fd = SourceFolders([tmp_path]).open(p)  # as ingest opens it (on Windows, shared for deleting)
    try:
        p.unlink()
        p.write_bytes(png_bytes())  # the name now holds something else
        r = clf.classify(p, fd=fd)
    finally:
        os.close(fd)
    assert (r.category, r.mime) == ("documents", "application/pdf")


# The compiled patterns match exactly what fnmatch matches (the rule the docs and the config give).
_PATTERN_CHARS = st.sampled_from(list("ab/.*?[]!-xX"))
_NAME_CHARS = st.sampled_from(list("ab/.-xX"))


@settings(max_examples=400, deadline=None)
@given(
    pattern=st.text(_PATTERN_CHARS, min_size=1, max_size=8),
    relpath=st.text(_NAME_CHARS, min_size=1, max_size=10),
)
def test_rules_match_as_fnmatch_does(pattern, relpath):
    name = relpath.rsplit("/", 1)[-1]
    expected = "documents" if fnmatch.fnmatch(relpath, pattern) or fnmatch.fnmatch(name, pattern) else None
    assert Classifier(DEFAULT_CATEGORIES, (Rule(pattern, "documents"),)).by_rule(relpath) == expected


@settings(max_examples=200, deadline=None)
@given(
    mime=st.sampled_from(
        [
            "image/png",
            "video/mp4",
            "audio/x-flac",
            "application/pdf",
            "text/plain",
            "application/zip",
            "application/x-tar",
            "application/octet-stream",
            "text/x-c",
        ]
    )
)
def test_mime_types_match_as_fnmatch_does_in_priority_order(mime):
    classifier = Classifier(DEFAULT_CATEGORIES)
    expected = next(
        (c.name for c in DEFAULT_CATEGORIES if any(fnmatch.fnmatchcase(mime, p.lower()) for p in c.mime)),
        None,
    )
    assert classifier.by_mime(mime) == expected
    assert classifier.by_mime(mime) == expected  # and again, from what it remembered
