"""Helpers for testing Modelyard and its backends against real services.

Shipped with the package so plugin authors can run their backends through the same fixtures.
"""
