"""contactsync: bidirectional contact synchronization."""

__version__ = "0.1.0"
