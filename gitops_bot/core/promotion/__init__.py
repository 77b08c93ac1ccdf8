"""Promotion between environments: the routes in `.gitops.yaml`, what a
promotion pull request carries (change), the soak before it may go (soak),
and the history of what reached where (ledger)."""
