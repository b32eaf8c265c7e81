"""Loaders for the paper's benchmarks."""
