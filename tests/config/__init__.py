"""Tests of fleet/config/."""
