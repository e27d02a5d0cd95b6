"""The ``bingo-scheduler`` command line."""
