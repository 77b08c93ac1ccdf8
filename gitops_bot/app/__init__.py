"""Use cases: fetch through the ports and adapters, decide with the core, write back."""
