"""Rendering the desired state of an environment with the real tools.

The only package that runs kustomize and helm, always through
render.sandbox.run: file access confined to the repository, no plugins or
exec functions, no network, bounded time and output. render.inputs reads
kustomization and Chart files to tell which files an environment reads; it
runs no tool.
"""
