"""The Textual app. Imports the core; the core never imports it."""
