"""netwarden: audit a provider's network for known illegal content and prove each instance."""

__version__ = "0.1.0"
