"""The worker's web server: live queue state as JSON (and, later, the wallboard)."""
