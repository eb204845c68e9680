"""Logging setup: secrets redacted in every sink, rotation, stdlib/pykka routing, idempotency."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest
from loguru import logger

from engine.logs import LOG_FILE, setup_logging

SECRET = "bg_9f8e7d6c5b4a-SECRET"
PASSPHRASE = "hunter2-passphrase"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    logger.remove()
    logger.configure(patcher=lambda record: None)
    logging.basicConfig(handlers=[logging.NullHandler()], level=logging.WARNING, force=True)


def log_text(log_dir: Path) -> str:
    logger.complete()
    return "".join(p.read_text(encoding="utf-8") for p in sorted(log_dir.glob("*.log")))


def test_secrets_never_reach_the_file_or_console(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(tmp_path, "DEBUG", secrets=[SECRET, PASSPHRASE, ""])
    added_later: list[str] = []
    logger.add(added_later.append, format="{message} {extra}")
    logger.info("signing with key {} and {}", SECRET, PASSPHRASE)
    logger.bind(auth=SECRET).warning("auth header built")
    try:
        try:
            raise KeyError(f"venue refused {SECRET}")
        except KeyError as cause:
            raise RuntimeError(f"login failed for passphrase {PASSPHRASE}") from cause
    except RuntimeError:
        logger.exception("order submit failed")
    logging.getLogger("adapters.bitget").error("stdlib saw %s", SECRET)

    text = log_text(tmp_path)
    console = capsys.readouterr().err
    assert "'auth': '***'" in "".join(added_later)
    for sink in (text, console, "".join(added_later)):
        assert SECRET not in sink
        assert PASSPHRASE not in sink
        assert "signing with key *** and ***" in sink
        assert "RuntimeError: login failed for passphrase ***" in sink
        assert "KeyError: 'venue refused ***'" in sink
        assert "stdlib saw ***" in sink


def test_auth_headers_and_assignments_are_redacted(tmp_path: Path) -> None:
    setup_logging(tmp_path, "INFO")
    headers = {
        "ACCESS-KEY": "bg_key123",
        "ACCESS-SIGN": "c2ln/bmF+0dXJl==",
        "ACCESS-PASSPHRASE": "pp9",
        "ACCESS-TIMESTAMP": "1700000000000",
    }
    logger.info("request headers {}", headers)
    logger.info("GET /api?api_key=k-777&symbol=BTCUSDT secret=s-888 passphrase: 'p-999'")
    text = log_text(tmp_path)
    for value in ("bg_key123", "c2ln/bmF+0dXJl==", "pp9", "k-777", "s-888", "p-999"):
        assert value not in text
    assert "'ACCESS-KEY': '***'" in text
    assert "symbol=BTCUSDT" in text
    assert "'ACCESS-TIMESTAMP': '1700000000000'" in text


def test_file_rotates_and_keeps_retention_files(tmp_path: Path) -> None:
    setup_logging(tmp_path, "INFO", rotation_mb=1, retention_files=3)
    line = "x" * 10_000
    for i in range(600):
        logger.info("{} {}", i, line)
    logger.complete()
    files = sorted(tmp_path.glob("trading_engine*.log"))
    assert len(files) == 3
    assert (tmp_path / LOG_FILE) in files
    assert all(f.stat().st_size <= 1024 * 1024 + 20_000 for f in files)
    assert "599 xxx" in (tmp_path / LOG_FILE).read_text(encoding="utf-8")


def test_level_filters_both_loguru_and_stdlib(tmp_path: Path) -> None:
    setup_logging(tmp_path, "info")
    logger.debug("loguru debug detail")
    logging.getLogger("pykka").debug("pykka debug detail")
    logger.info("loguru info line")
    logging.getLogger("pykka").info("stdlib info line")
    text = log_text(tmp_path)
    assert "debug detail" not in text
    assert "| INFO     | tests.test_logs:" in text
    lines = text.splitlines()
    assert len(lines) == 2
    assert "| INFO     | tests.test_logs:" in lines[1]
    assert lines[1].endswith("stdlib info line")


class Exploding(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> None:
        raise ValueError("tick handler broke")


def test_pykka_records_reach_the_file(tmp_path: Path) -> None:
    setup_logging(tmp_path, "DEBUG")
    logging.getLogger("pykka").warning("pykka warns %d", 7)
    ref = Exploding.start()
    ref.tell("tick")
    assert ref.actor_stopped.wait(timeout=10)
    text = log_text(tmp_path)
    assert "pykka warns 7" in text
    assert "ValueError: tick handler broke" in text


def test_setup_twice_does_not_duplicate_sinks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(tmp_path, "INFO")
    setup_logging(tmp_path, "INFO")
    logger.info("only once")
    logging.getLogger("pykka").warning("stdlib only once")
    text = log_text(tmp_path)
    console = capsys.readouterr().err
    assert text.count("only once") == 2
    assert console.count("only once") == 2
    assert text.count("stdlib only once") == 1


def test_invalid_rotation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="retention_files must be >= 1, got 10, 0"):
        setup_logging(tmp_path, "INFO", retention_files=0)
