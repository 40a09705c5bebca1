"""Cockpit pages: the batch operation wizard and batch monitoring."""
