"""A checkpoint or subnet file from elsewhere is read as weights only: a pickle that would call a function
when loaded is refused, the function never runs, and the message says why without advising the unsafe load."""

from __future__ import annotations

import pytest
import torch

from nasrec_lab.supernet import load_subnet
from nasrec_lab.training import read_checkpoint

from .conftest import MakesADirectoryWhenLoaded


@pytest.mark.parametrize("reader", [read_checkpoint, lambda p: read_checkpoint(p, mmap=True), load_subnet])
def test_a_file_that_would_run_code_is_refused_and_nothing_runs(tmp_path, reader):
    marker = tmp_path / "ran"
    torch.save({"format": "nasrec-lab/checkpoint", "model": MakesADirectoryWhenLoaded(str(marker))},
               tmp_path / "evil.pt")
    with pytest.raises(ValueError) as err:
        reader(tmp_path / "evil.pt")
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'evil.pt'}: refused: the file asks for ")
    assert "mkdir" in message and "could run code" in message
    assert "False" not in message  # torch's own text suggests weights_only=False, which would run it
    assert not marker.exists()


@pytest.mark.parametrize("reader", [read_checkpoint, load_subnet])
def test_a_damaged_file_is_named_as_damaged(tmp_path, reader):
    (tmp_path / "noise.pt").write_bytes(b"\x80\x02garbage, not a torch file")
    with pytest.raises(ValueError, match="noise.pt: not a readable .*corrupt or truncated") as err:
        reader(tmp_path / "noise.pt")
    assert "False" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="missing.pt: no such"):
        reader(tmp_path / "missing.pt")
