"""Batches: frozen selections worked off asynchronously as jobs (see DESIGN section 4)."""
