"""vCards: read as lines (card.py), shown to mappings as plain nested records (record.py),
and changed line by line (edit.py), so that every line contactsync does not map is written
back byte for byte."""

from sync.vcard.card import Card, CardError, parse
from sync.vcard.edit import apply, new_card, new_card_and_record
from sync.vcard.record import present

__all__ = ["Card", "CardError", "apply", "new_card", "new_card_and_record", "parse", "present"]
