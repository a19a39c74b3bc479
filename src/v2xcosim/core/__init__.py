"""Floor 0 of v2xcosim: errors, units, random streams, messages, the trace, TOML positions.

Nothing here imports another v2xcosim package; everything else may import from here.
"""
