"""Kubernetes objects as values: identity, rendered manifests, what the API
server adds and rewrites, diffs, health, apply order and outcomes."""
