"""Pipeline steps: each composes pure domain functions with the adapters for one Lambda."""
