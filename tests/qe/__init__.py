"""Tests of fleet/qe/."""
