"""A file a strategy cannot copy faithfully (a pixel format or colour range the target
format cannot hold): the original is kept, and the reason recorded."""

from __future__ import annotations


class Unsuitable(Exception):
    """Raised by an encoder before it writes anything; the message is the reason, in
    words a person reads in the ledger ("16-bit float pixels ...")."""
