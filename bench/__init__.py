"""ancre benchmarks (`make bench`). Not part of the package."""
