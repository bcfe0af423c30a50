"""Reading torch files that may come from elsewhere: weights only, and a reason a user can act on.

``torch.load(..., weights_only=True)`` refuses a pickle that would call a function on load, but its
message starts by suggesting ``weights_only=False``, which would run that function. The reader here
says what was refused (the global the file asks for) or that the file is damaged, and nothing else.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def load_weights_only(path: str | os.PathLike, what: str, *, map_location: Any = "cpu", mmap: bool = False) -> Any:
    """``torch.load(path, weights_only=True)``, its failures as one ``ValueError`` naming ``path`` and the cause.

    ``what`` names the file for the message ("checkpoint", "nasrec-lab subnet file"). ``mmap``
    leaves tensors on disk until read; a legacy (non-zip) file, which cannot be mapped, is read whole.

    Example: ``state = load_weights_only("run/checkpoint.pt", "checkpoint", mmap=True)``; a pickle that
    would call ``os.system`` on load raises ``run/checkpoint.pt: refused: the file asks for posix.system ...``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what}")
    try:
        try:
            return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
        except Exception:
            if not mmap:
                raise
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        text = str(exc)
        asked = _GLOBAL.search(text)
        if asked is not None:
            raise ValueError(f"{path}: refused: the file asks for {asked.group(1)} when loaded, which could run "
                             f"code; a {what} holds only tensors and plain values, read without running anything "
                             "(torch.load weights_only=True)") from exc
        # torch's weights-only failure opens with advice to load unsafely; the cause follows its marker
        if "WeightsUnpickler error:" in text:
            detail = text.split("WeightsUnpickler error:", 1)[1]
        elif "Weights only load failed" in text:
            detail = "it holds something other than tensors and plain values"
        else:
            detail = text
        detail = next((line.strip() for line in detail.splitlines() if line.strip()), "")
        raise ValueError(f"{path}: not a readable {what} (corrupt or truncated?): "
                         f"{exc.__class__.__name__}: {detail[:200]}") from exc
