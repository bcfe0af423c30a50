"""Errors that say which file, line and field is wrong, and what was expected."""

from __future__ import annotations


class DataFormatError(ValueError):
    """A raw data file does not have the expected format.

    Carries ``path``, ``line`` (1-based; the row number for Parquet), ``field`` and the
    offending ``text`` so callers can act on them; ``str()`` reads as one sentence.
    """

    def __init__(
        self,
        path: str,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
        text: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.text = text
        where = self.path if line is None else f"{self.path}:{line}"
        what = "" if field is None else f" field {field!r}:"
        got = "" if text is None else f" (got {text!r})"
        super().__init__(f"{where}:{what} {message}{got}")
