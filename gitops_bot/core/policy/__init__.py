"""The policy gate: its rules in `.gitops.yaml`, approvals, CODEOWNERS,
deploy windows, destructive changes, and the verdict (gate)."""
