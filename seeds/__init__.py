"""Guizhou reference data and the synthetic-workforce generator."""
