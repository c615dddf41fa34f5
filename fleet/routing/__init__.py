"""Routing: token estimates, complexity signals and score, the model registry, feature flags,
circuit breakers and the router that picks the cheapest capable model."""
