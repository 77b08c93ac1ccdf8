"""Adapter for the Kubernetes API: the only package that imports `kubernetes`
(import-linter checks this), and it hands back plain dicts and core values."""
