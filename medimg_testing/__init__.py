"""The harness tests/ and bench/ share, so neither imports the other: the tiny model, the
real server in a subprocess, hostile and bulk uploads, and API replicas.

Test-only: the Docker image leaves it out, and nothing in api/ or ml/ imports it.
"""
