"""Hostile model files for the scanner and the probe (issue 19), built byte by byte.

Each payload has a side effect on a marker path (a file, a folder, a socket) that a test
owns: ``firing.py`` first proves the payload fires under a plain ``joblib.load`` in a
scratch process, then the tests prove rebuild-env refuses it without running it.
"""
