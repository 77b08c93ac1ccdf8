"""Secret values: found in a render's raw inputs (scan) and kept inside the
process (mask)."""
