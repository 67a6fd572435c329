"""Fixtures for the Direct Connect tests (see dc_helpers for the real hub and clients)."""

from dc_helpers import dc_clients, uhub  # type: ignore[import-not-found]

__all__ = ["dc_clients", "uhub"]
