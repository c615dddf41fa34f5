"""Tests of fleet/streaming/."""
