"""Read-side views over storage, for the CLI and (later) the wallboard."""
