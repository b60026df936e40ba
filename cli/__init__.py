"""The ``edge`` command line. Each module here that sets GROUP adds its commands (see cli/main.py)."""
