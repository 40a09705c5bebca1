"""Batch rows (the batch lifecycle is built in the batches issue)."""
