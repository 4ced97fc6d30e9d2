"""The Legion runtime: obtaining it, building against it, and launching Legion processes."""
