"""Floor 4: use cases as packages (``sites``, ``terni``); they never import each other."""
