"""Spec writers: a Plan as files people can read and re-use without rebuild-env."""
