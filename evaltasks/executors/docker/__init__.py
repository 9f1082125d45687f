"""runtime: docker (the default): each task in a container of the harness image."""
