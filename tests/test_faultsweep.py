"""tools/faultsweep.py classifies outcomes right: a signal that resumes exactly and a clear spec error are PASS; a
process that never ends is a FAIL (so the classifier can fail), and the checks tell a weight one ulp off, other
losses, a traceback and an error without a fix from the right outcome. Three cases through the harness's own runner,
at once: four short fresh processes, the longest chain three (reference, cut, resume)."""
import json
import signal
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"
sys.path.insert(0, str(TOOLS))
import faultsweep  # noqa: E402
from faultsweep_cases.common import Ctx, Fail, Refs, clear_error, equal_to_ref  # noqa: E402

NAMES = ["term-plain-first-batch", "spec-batch-size-0", "selftest-sleeper-hangs"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    cases = [c for c in faultsweep.CASES if c.name in NAMES]
    assert sorted(c.name for c in cases) == sorted(NAMES)
    rows = faultsweep.sweep(cases, out, jobs=3)
    return out, {r["case"]: r for r in rows}


def test_a_sigterm_in_the_first_batch_ends_interrupted_and_resumes_to_the_straight_run(swept):
    row = swept[1]["term-plain-first-batch"]
    assert (row["result"], row["category"]) == ("PASS", "sigterm"), row["detail"]
    assert row["detail"] == f"exit {128 + signal.SIGTERM}, interrupted; resumed to the uninterrupted run's numbers"


def test_a_clear_error_passes_with_the_message_it_gave(swept):
    spec = swept[1]["spec-batch-size-0"]
    assert spec["result"] == "PASS" and spec["detail"] == "clear error: data.batch_size: must be >= 1, got 0", spec[
        "detail"]


def test_a_process_that_never_ends_is_a_hang_with_its_evidence(swept):
    sleeper = swept[1]["selftest-sleeper-hangs"]
    assert sleeper["result"] == "FAIL" and sleeper["detail"].startswith("HANG: no exit after 2 s"), sleeper["detail"]


def test_the_report_and_the_table_count_every_case(swept):
    out, rows = swept
    report = json.loads((out / "report.json").read_text())
    assert (report["cases"], report["failed"]) == (3, 1)
    table = faultsweep.table(list(rows.values())).splitlines()
    assert table[-1].split() == ["total", "3", "2", "1"]
    assert "selftest                   1      0      1" in table


def test_the_checks_themselves_tell_right_from_wrong(tmp_path):
    import torch
    ref = {"model": {"w": torch.ones(3)}, "history": {"epochs": [{"loss": 1.0}]}}
    equal_to_ref({"model": {"w": torch.ones(3)}, "history": {"epochs": [{"loss": 1.0}]}}, ref, "same")
    with pytest.raises(Fail, match="SILENT WRONG: off: weights differ"):
        equal_to_ref({"model": {"w": torch.tensor([1.0, 1.0, 1.0 + 2 ** -20])}, "history": ref["history"]}, ref, "off")
    with pytest.raises(Fail, match="SILENT WRONG: logs: epoch logs differ"):
        equal_to_ref({"model": ref["model"], "history": {"epochs": [{"loss": 0.5}]}}, ref, "logs")
    with pytest.raises(Fail, match="TRACEBACK"):
        clear_error(1, "Traceback (most recent call last):\n  KeyError: 'x'", "raw")
    with pytest.raises(Fail, match="NOT ONE CLEAR ERROR: ok exited 0"):
        clear_error(0, "trained 3 epoch(s)", "ok")
    with pytest.raises(Fail, match="UNCLEAR ERROR"):
        clear_error(2, "nbtrain: error: loop.epochs: wrong", "no fix")
    assert faultsweep.select("sigint-x3") and all(c.category == "sigint-x3" for c in faultsweep.select("sigint-x3"))
    assert not [c for c in faultsweep.select(None) if c.expect_fail]
    assert Ctx(tmp_path, Refs(tmp_path)).notes == []
