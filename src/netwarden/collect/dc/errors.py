"""Errors of the Direct Connect clients, in a module of their own so that both dialects and the
shared code (:mod:`.hub`, :mod:`.download`) can raise them without importing each other.

:class:`HubError` is what the collector catches, whatever the protocol; each dialect raises its
own subclass (:class:`AdcError`, :class:`NmdcHubError`) so a message names the protocol that
failed, and :class:`Denied` is the hub refusing us in either.
"""

from __future__ import annotations

__all__ = ["AdcError", "Denied", "HubError", "NmdcHubError"]


class HubError(Exception):
    """The hub or a peer did something that ends this exchange; the text says what."""


class AdcError(HubError):
    """An ADC hub or peer ended the exchange."""


class NmdcHubError(HubError):
    """An NMDC hub or peer ended the exchange."""


class Denied(HubError):
    """The hub refused us (bad password, nick rules, ban...)."""
