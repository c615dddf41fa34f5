"""Streaming: chunking model output, relaying numbered events to Redis, subscribing to them,
and fleet-wide events."""
