"""The rule a text benchmark's file must pass to be read as text (20 Newsgroups messages, Reuters SGML).

A file is refused, naming it, when it holds a NUL byte, or when more than
:data:`MAX_CONTROL_SHARE` of its characters (decoded as UTF-8, else Latin-1) are control
characters other than tab, line feed, carriage return and form feed. Real messages and SGML
files hold none or a handful; random or binary data (a stray archive, an image, a truncated
download) holds NUL bytes or about a quarter control characters, and would otherwise be
tokenised and trained on as if it were text.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

#: Largest share of control characters (tab, newlines and form feed excepted) a text file may hold.
MAX_CONTROL_SHARE = 0.05
_ALLOWED_CONTROLS = frozenset("\t\n\r\f")


def decode_text(raw: bytes) -> str:
    """``raw`` decoded as UTF-8 when valid, else as Latin-1 (which accepts every byte)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def check_text_file(raw: bytes, path: str | Path, encoding: str | None = None) -> str:
    """``raw`` (the bytes of ``path``) decoded with ``encoding`` (default: :func:`decode_text`), if it
    passes the module's rule.

    Raises:
        ValueError: naming ``path`` and the rule it breaks.
    """
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise ValueError(
            f"{path} is not a text file: it holds NUL bytes (the first at offset {nul}); remove it or replace it "
            "with the original file"
        )
    text = raw.decode(encoding) if encoding else decode_text(raw)
    if text:
        controls = sum(1 for char in text if unicodedata.category(char) == "Cc" and char not in _ALLOWED_CONTROLS)
        if controls > MAX_CONTROL_SHARE * len(text):
            raise ValueError(
                f"{path} is not a text file: {controls} of its {len(text)} characters ({controls / len(text):.0%}) "
                f"are control characters (at most {MAX_CONTROL_SHARE:.0%} allowed); remove it or replace it with "
                "the original file"
            )
    return text
