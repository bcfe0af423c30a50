"""Benchmarks: each compares nasrec-lab against a reference in the same run (a ratio)."""
