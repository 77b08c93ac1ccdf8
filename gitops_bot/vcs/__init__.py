"""Adapter for git: the only package that runs git."""
