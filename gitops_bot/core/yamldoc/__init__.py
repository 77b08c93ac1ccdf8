"""YAML as text the user wrote: typed reads that point at the line (nodes)
and one scalar rewritten in place (scalars)."""
