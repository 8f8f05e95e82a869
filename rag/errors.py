"""Errors whose messages are written for the people who read them."""

from __future__ import annotations


class RagError(Exception):
    """Base class: the message names the bad value and, where there is one, the fix."""


class InputError(RagError):
    """A question, flag or file that cannot be used as given."""


class IndexMissingError(RagError):
    """Asked before an index exists."""


class IndexCorruptError(RagError):
    """The index folder exists but is not an index this tool can read."""


class StoreUnavailableError(RagError):
    """The vector store (for example a Chroma server) cannot be reached."""


class LoadError(RagError):
    """A document that cannot be read or decoded; indexing skips it and goes on."""
