"""Helpers shared by several test modules: plain functions and constants, never tests.

Fixtures live in the ``conftest.py`` files; everything a fixture or a test calls by name lives
here, one module per concern, so no test module imports another.
"""
