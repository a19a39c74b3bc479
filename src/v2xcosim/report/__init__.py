"""Floor 3: what a run leaves behind for people: tables, plots, provenance, comparisons."""
