"""Speed harness: ``python -m bench`` (``make bench``) times lib.train against a plain reference loop.

``reference``  the plain loop of the official TMS notebook (two dense draws, einsum, AdamW)
``cases``      the book's regimes, each built for both sides from one seed
``__main__``   runs both side by side in one process; prints a table, writes JSON
"""
