"""Dunline."""
