"""The in-cluster puller: fetch the tracked branch, apply, prune, watch for drift, report."""
