import random

import blake3
import pytest

from usbsync_gui.core.hashing import MMAP_THRESHOLD, hash_file


@pytest.mark.parametrize("size", [0, 1, 1 << 20, MMAP_THRESHOLD - 1, MMAP_THRESHOLD + 12345])
@pytest.mark.parametrize("drop_cache", [False, True])
def test_hash_file_matches_blake3_on_both_paths(tmp_path, size, drop_cache):
    data = random.Random(size).randbytes(size)
    p = tmp_path / "f"
    p.write_bytes(data)
    assert hash_file(p, drop_cache=drop_cache) == blake3.blake3(data).hexdigest()
