"""gitops-bot: GitOps pull-request bot for Kubernetes.

See docs/ (and ../shared/DESIGN.md) for the layers: a pure core, small ports,
one adapter per external system, use cases, and the CLI as the only entry
point that reads flags and the environment.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gitops-bot")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
