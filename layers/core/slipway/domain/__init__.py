"""Pure domain logic: no AWS clients, no environment reads; data in, data out."""
