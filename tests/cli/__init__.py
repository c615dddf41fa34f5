"""Tests of fleet/cli/."""
