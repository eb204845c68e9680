"""Strategies: small pure rule classes behind one interface (see ``base``)."""
