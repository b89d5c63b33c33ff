"""Measuring: one run per model and device loads its engine once and measures each case once."""
