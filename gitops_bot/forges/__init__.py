"""Forges as plug-ins: GitHub through PyGithub, GitLab through python-gitlab.

Each forge is one package (forges/github/, forges/gitlab/) whose __init__
holds its descriptor, FORGE (gitops_bot.forges.forge.Forge: name, default
API URL, comment limit, connect, clone URL, pull request refs, webhook and
CI reading); forges.registry lists them, and is all the CLI, the webhook
server and the puller use. Each adapter implements the protocols in
gitops_bot.core.pr.ports and copies vendor data into gitops_bot.core.pr.model
values at the border; vendor objects never leave. What is the same on every
forge is written once here (sticky: the sticky comment; payload: reading
webhook fields and the CI token).
"""
