"""Load and latency benchmarks; `make bench` runs `python -m benchmarks.run` from the root."""
