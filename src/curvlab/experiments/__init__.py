"""One module per paper: pure functions from a spec to a tidy table (one workflow job each)."""
