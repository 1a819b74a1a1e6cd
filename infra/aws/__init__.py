"""Provisioning on AWS (or on the local moto server: the same code, another endpoint)."""
