"""Verification: run the probe inside the built environment and judge what it says."""
