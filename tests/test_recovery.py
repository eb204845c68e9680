"""Start-up check of the state database: refuse an unusable or missing one, or start flat on request,
moving the bad file aside and never deleting it."""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from engine.messages import Side, TradeClosed
from engine.store import SCHEMA_VERSION, StateStore
from engine.store.recovery import StateUnusable, check_state

GARBAGE = b"this is not a database\n" * 300
TRADE = TradeClosed(
    "ETHUSDT", Side.SHORT, 1.25, 1_700_000_000_000, 2_050.4, 1_700_003_600_000, 2_010.1, 50.375, 3.06,
    "mean_reversion", "RANGING", "take profit", 49.5, "f-2",
)  # fmt: skip


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def db(data_dir: Path) -> Path:
    return data_dir / "engine.db"


@pytest.fixture
def marker(data_dir: Path) -> Path:
    return data_dir / "control.token"


def mark_used(marker: Path) -> None:
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("token\n")


def write_garbage(db: Path) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(GARBAGE)


def digests(folder: Path) -> dict[str, str]:
    """Each file of ``folder`` by name, as a digest of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def asides(db: Path) -> list[Path]:
    """The moved-aside databases (their -wal and -shm companions left out)."""
    return sorted(p for p in db.parent.glob(f"{db.name}.bad-*") if not p.name.endswith(("-wal", "-shm")))


def assert_usable_and_empty(db: Path) -> None:
    store = StateStore(db)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        assert set(store.counts().values()) == {0}
    finally:
        store.close()


def damaged_database_with_a_live_wal(db: Path, scratch: Path) -> None:
    """What a crash can leave: committed rows still in the -wal, and damaged pages in the main file."""
    origin = scratch / "engine.db"
    store = StateStore(origin)
    for i in range(300):
        store.record_event(i, "restart", None, "x" * 200)
    store.close()
    store = StateStore(origin)
    for i in range(300):
        store.record_event(1_000 + i, "restart", None, "y" * 200)
    db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        shutil.copyfile(origin.with_name(origin.name + suffix), db.with_name(db.name + suffix))
    store.close()
    data = bytearray(db.read_bytes())
    page = 4096
    data[page * 2 : page * 5] = b"\xa5" * (page * 3)
    db.write_bytes(bytes(data))


# --- nothing to recover -------------------------------------------------------------------------


def test_fresh_folder_creates_the_database_and_says_nothing(db: Path, marker: Path) -> None:
    assert check_state(db, marker, start_flat=False) == ""
    assert_usable_and_empty(db)


def test_usable_database_is_opened_silently(db: Path, marker: Path) -> None:
    StateStore(db).close()
    mark_used(marker)
    assert check_state(db, marker, start_flat=False) == ""


def test_fresh_folder_with_start_flat_says_it_started_flat(db: Path, marker: Path) -> None:
    note = check_state(db, marker, start_flat=True)
    assert note == f"started flat: there was no state database, a new one is {db}"
    assert_usable_and_empty(db)


# --- missing database in a used folder ----------------------------------------------------------


def test_missing_database_in_a_used_folder_is_refused(db: Path, marker: Path) -> None:
    mark_used(marker)
    with pytest.raises(StateUnusable, match=re.escape(f"the state database {db} is missing")) as refused:
        check_state(db, marker, start_flat=False)
    assert "--start-flat" in str(refused.value)
    assert marker.name in str(refused.value)
    assert not db.exists()


def test_missing_database_in_a_used_folder_starts_flat_on_request(db: Path, marker: Path) -> None:
    mark_used(marker)
    note = check_state(db, marker, start_flat=True)
    assert note.startswith("started flat")
    assert str(db) in note
    assert_usable_and_empty(db)


# --- corrupt database ---------------------------------------------------------------------------


def test_corrupt_database_is_refused_and_left_untouched(db: Path, marker: Path) -> None:
    write_garbage(db)
    with pytest.raises(StateUnusable, match=re.escape(str(db))) as refused:
        check_state(db, marker, start_flat=False)
    assert "--start-flat" in str(refused.value)
    assert db.read_bytes() == GARBAGE
    assert sorted(p.name for p in db.parent.iterdir()) == ["engine.db"]


def test_corrupt_database_with_start_flat_is_moved_aside_and_replaced(db: Path, marker: Path) -> None:
    write_garbage(db)
    mark_used(marker)
    note = check_state(db, marker, start_flat=True)
    (aside,) = asides(db)
    assert aside.read_bytes() == GARBAGE
    assert note.startswith(f"started flat: the unusable state database was moved to {aside} (")
    assert_usable_and_empty(db)


def test_refused_damaged_database_keeps_its_wal_and_its_bytes(db: Path, marker: Path, tmp_path: Path) -> None:
    damaged_database_with_a_live_wal(db, tmp_path)
    before = digests(db.parent)
    assert set(before) == {"engine.db", "engine.db-wal", "engine.db-shm"}
    with pytest.raises(StateUnusable, match=re.escape(str(db))):
        check_state(db, marker, start_flat=False)
    after = digests(db.parent)
    assert set(after) == set(before)
    # The -shm is SQLite's shared-memory index of the log, rebuilt by any reader: only the data
    # files must be byte for byte what the crash left.
    assert {k: v for k, v in after.items() if k != "engine.db-shm"} == {
        k: v for k, v in before.items() if k != "engine.db-shm"
    }


def test_start_flat_moves_the_wal_and_shm_aside_with_the_damaged_database(
    db: Path, marker: Path, tmp_path: Path
) -> None:
    damaged_database_with_a_live_wal(db, tmp_path)
    wal = hashlib.sha256(db.with_name(db.name + "-wal").read_bytes()).hexdigest()
    check_state(db, marker, start_flat=True)
    (aside,) = asides(db)
    assert sorted(p.name for p in db.parent.glob(f"{aside.name}*")) == [
        aside.name,
        f"{aside.name}-shm",
        f"{aside.name}-wal",
    ]
    assert hashlib.sha256(aside.with_name(aside.name + "-wal").read_bytes()).hexdigest() == wal


def test_foreign_sqlite_database_is_refused_and_left_as_it_was(db: Path, marker: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('shopping list')")
    conn.close()
    with pytest.raises(StateUnusable, match="not an engine state database"):
        check_state(db, marker, start_flat=False)
    conn = sqlite3.connect(db)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    rows = conn.execute("SELECT body FROM notes").fetchall()
    conn.close()
    assert (tables, rows) == (["notes"], [("shopping list",)])


def test_foreign_sqlite_database_with_start_flat_is_moved_aside(db: Path, marker: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    conn.close()
    note = check_state(db, marker, start_flat=True)
    (aside,) = asides(db)
    assert str(aside) in note
    assert "not an engine state database" in note
    assert_usable_and_empty(db)


# --- usable database with --start-flat ----------------------------------------------------------


def test_usable_database_with_start_flat_is_kept_and_the_note_says_so(db: Path, marker: Path) -> None:
    store = StateStore(db)
    store.record_trade(TRADE)
    store.put_state("portfolio", {"cash": 10_050.0})
    store.close()
    mark_used(marker)
    note = check_state(db, marker, start_flat=True)
    assert note == f"--start-flat given, but {db} is usable: it is kept and its state resumed"
    assert asides(db) == []
    store = StateStore(db)
    try:
        assert store.trades() == [TRADE]
        assert store.get_state("portfolio") == {"cash": 10_050.0}
    finally:
        store.close()
