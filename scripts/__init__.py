"""Thin command-line front ends over importable functions."""
