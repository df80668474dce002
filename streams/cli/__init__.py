"""The `firstline` command line."""
