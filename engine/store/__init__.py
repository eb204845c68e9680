"""Durable engine state: the SQLite database that only the Store actor writes."""

from engine.store.sqlite_store import SCHEMA_VERSION, StateStore, StoreError

__all__ = ["SCHEMA_VERSION", "StateStore", "StoreError"]
