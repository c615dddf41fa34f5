"""Tests of fleet/dispatch/."""
