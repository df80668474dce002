"""Pure analytics used by processors, the simulator and tests: queueing theory, sketches, windows."""
