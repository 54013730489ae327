"""slipway core: contracts, errors, settings, the pure domain and the AWS adapters."""

__version__ = "0.1.0"
