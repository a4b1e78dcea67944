"""Showing untrusted job text: commands, output and errors are whatever a job wrote."""

from __future__ import annotations

__all__ = ["printable"]


def printable(text: str, *, keep: str = "") -> str:
    """``text`` with every character a terminal would act on (ESC, CR, BEL, bidi
    overrides...) written as a Python escape: job text is untrusted, and a job must not
    clear the screen or forge lines of whoever reads it. Printable Unicode stays, and
    so do the characters of ``keep`` (a page of output keeps its newlines)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in keep else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
