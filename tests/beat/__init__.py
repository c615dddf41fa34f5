"""Tests of beat/."""
