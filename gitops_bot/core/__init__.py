"""The pure core: values in, values out. No network, no subprocess, no
environment, no vendor SDK (import-linter checks this)."""
