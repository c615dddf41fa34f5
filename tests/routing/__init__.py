"""Tests of fleet/routing/."""
