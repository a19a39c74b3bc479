"""The file-configured use case: charging sites on a named network (``scenarios/demo.toml``)."""
