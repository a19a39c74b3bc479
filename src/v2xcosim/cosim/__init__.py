"""Floor 2: the mosaik adapters (API v3) and the helpers that assemble and run a world.

Adapters are thin: they build a domain or grid object from JSON parameters and move numbers
between it and mosaik.  No use case is named here.
"""
