"""Benchmarks: numbers printed, never asserted. Run with `scripts/bench`."""
