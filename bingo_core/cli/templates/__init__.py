"""File templates of the ``bingo-scheduler`` commands that write files (``plugin new``)."""
