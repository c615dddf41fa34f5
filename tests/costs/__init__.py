"""Tests of fleet/costs/."""
