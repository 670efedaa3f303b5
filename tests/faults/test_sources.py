"""The source changes under the copier: modified in place, rewritten, deleted, moved out of the outbox, at a
random point of a slow copy. The newest content must land exactly once; a deleted or moved file may be on the
drive only whole."""

from __future__ import annotations

import pytest

from tests.faults.conftest import assert_clean
from tests.faults.harness import Scenario

pytestmark = pytest.mark.faults


def _mid_copy_edit(sc: Scenario, edit) -> None:
    [target] = sc.standard(big=1)
    cmd = sc.rng.choice(["run", "sync-once"])
    sc.notes["cmd"] = cmd
    proc = sc.start_engine(cmd=cmd)
    sc.notes["temp_seen"] = sc.wait_mid_copy() is not None
    sc.notes["delay_s"] = sc.fault_delay(0.8)
    sc.notes["edit"] = edit(target)
    if cmd == "sync-once":
        sc.wait_exit(proc)
        sc.finish()
    else:
        sc.finish(engine=proc)
    assert_clean(sc)


def test_source_modified_mid_copy(scenario: Scenario):
    _mid_copy_edit(scenario, scenario.edit_modify)


def test_source_rewritten_mid_copy(scenario: Scenario):
    _mid_copy_edit(scenario, scenario.edit_rewrite)


def test_source_deleted_mid_copy(scenario: Scenario):
    _mid_copy_edit(scenario, lambda p: scenario.edit_remove(p, move=False))


def test_source_moved_out_mid_copy(scenario: Scenario):
    _mid_copy_edit(scenario, lambda p: scenario.edit_remove(p, move=True))
