"""What to do when the state database is damaged or missing at start: refuse, or start flat on request.

Trading on from a guessed state is how money is lost twice, so the default is to refuse with the
reason and the two ways out: restore the file, or ``engine start --start-flat``, which moves the
unusable file aside (never deletes it) and starts with no positions. A database that is missing
from a data folder an engine has used before (its control token is there) counts as unusable too:
a silent fresh start would forget open positions.
"""

from __future__ import annotations

import time
from pathlib import Path

from engine.store.sqlite_store import StateStore, StoreError

WAL_SUFFIXES = ("-wal", "-shm")


class StateUnusable(Exception):
    """The state database cannot be used and the operator did not ask to start flat."""


def check_state(db: Path, used_marker: Path, start_flat: bool) -> str:
    """Open (and migrate) the state database, or move a bad one aside when ``start_flat``.

    Returns a sentence for the log when something was moved aside or started flat, else ''.
    Raises ``StateUnusable`` naming the file, the cause and the ways out.
    """
    existed = db.exists()
    if not existed and used_marker.exists() and not start_flat:
        raise StateUnusable(
            f"the state database {db} is missing, but {db.parent} was used by an engine before "
            f"({used_marker.name} is there): open positions and orders would be forgotten. Restore "
            "the file from a backup, or run 'engine start --start-flat' to start with no positions"
        )
    try:
        StateStore(db).close()
    except StoreError as exc:
        if not start_flat:
            raise StateUnusable(
                f"{exc}. Restore the file from a backup, or run 'engine start --start-flat' to move it "
                "aside and start with no positions"
            ) from None
        aside = _move_aside(db)
        StateStore(db).close()
        return f"started flat: the unusable state database was moved to {aside} ({exc})"
    if not start_flat:
        return ""
    if existed:
        return f"--start-flat given, but {db} is usable: it is kept and its state resumed"
    return f"started flat: there was no state database, a new one is {db}"


def _move_aside(db: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = db.with_name(f"{db.name}.bad-{stamp}")
    db.rename(aside)
    for suffix in WAL_SUFFIXES:
        companion = db.with_name(db.name + suffix)
        if companion.exists():
            companion.rename(aside.with_name(aside.name + suffix))
    return aside
