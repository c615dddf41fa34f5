"""The HTTP face of the fleet: the gateway."""
