"""Test doubles that speak real protocols: forge emulators checked against the forges' contracts."""
