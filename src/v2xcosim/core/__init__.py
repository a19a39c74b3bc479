"""Floor 0: stdlib-only building blocks that import nothing else from v2xcosim."""
