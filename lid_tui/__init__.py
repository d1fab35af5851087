"""lid-tui: explore WhatsApp LID <-> phone-number mappings in the terminal."""

__version__ = "0.1.0"
