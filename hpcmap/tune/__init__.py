"""The search for fast mappers: the mapper space, the optimizers, and the feedback they learn from."""
