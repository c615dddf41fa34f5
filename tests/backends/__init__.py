"""Tests of fleet/backends/."""
