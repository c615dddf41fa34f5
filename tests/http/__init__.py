"""Tests of fleet/http/."""
