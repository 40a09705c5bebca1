"""The Django project package and the Cockpit user interface."""
