"""Stores over the ports: the registry, runs, promotions, audit, specs, features, lineage, artifacts, captures."""
