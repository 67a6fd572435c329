"""Errors of the Direct Connect clients, in a module of their own so that both dialects and the
shared download loop (:mod:`.download`) can raise them without importing each other."""

from __future__ import annotations


class AdcError(Exception):
    """The hub or peer did something that ends this exchange; the text says what."""


class Denied(AdcError):
    """The hub refused us (bad password, nick rules, ban...)."""
