"""What the test suites and the benchmarks share: import as `tests.support.<module>`."""
