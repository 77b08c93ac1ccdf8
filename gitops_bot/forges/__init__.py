"""Forge adapters: GitHub through PyGithub, GitLab through python-gitlab.

Each implements the protocols in gitops_bot.core.pr.ports and copies vendor data
into gitops_bot.core.pr.model values at the border; vendor objects never leave.
Forge limits (comment length, status description length) are constants of
each adapter.
"""
