"""tools/untested_errors.py finds the raise statements of NbtrainErrors and marks the one that built an error."""
import sys
from pathlib import Path

import pytest

from nbtrain.errors import NbtrainError
from nbtrain.spec import TrainSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import untested_errors as tool  # noqa: E402


def test_it_finds_every_kind_of_raise_and_marks_only_the_one_that_built_the_error():
    sites = tool.sites()
    by_func = {(s.path, s.func): s for s in sites}
    unknown = by_func[("nbtrain/spec/catalog/params.py", "Table.get_entry")]       # a helper: errors.unknown_name
    assert unknown.source == "raise unknown_name(self.kind, name, self.keys(), where) from None"
    assert ("nbtrain/train/resume.py", "check_progress") in by_func                 # a subclass: CheckpointError
    assert len(sites) > 200 and all(s.source.startswith("raise ") and s.line <= s.end for s in sites)
    rec, before = tool.Recorder(sites), NbtrainError.__init__   # (the tool's own wrapper, when it runs this test)
    restore = rec.install()
    try:
        with pytest.raises(NbtrainError):
            TrainSpec.from_dict({"optim": {"type": "Adamm"}})
        NbtrainError("built outside any raise statement of the package")
    finally:
        restore()
    assert rec.reached == {unknown.key} and NbtrainError.__init__ is before
