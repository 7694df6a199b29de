"""The `ancre` command."""
