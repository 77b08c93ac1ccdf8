"""The repository: its `.gitops.yaml`, which environments a change affects,
and the bounds on the bot's work per environment."""
