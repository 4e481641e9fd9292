"""One module per bundle format; each exposes ``NAME``, ``detect(dir)`` and ``read(dir, ...)``."""
