"""``engine start``: logging, the engine's life cycle, and a clean stop on Ctrl-C or SIGTERM."""

from __future__ import annotations

import time
from pathlib import Path

from loguru import logger

from engine.app import Engine, EngineStartError
from engine.config import Config
from engine.logs import setup_logging


def run(config: Config, duration_s: float | None, start_flat: bool = False) -> int:
    """Run until stopped; returns the process exit code."""
    from engine.cli import install_stop_handlers

    secrets = config.secrets
    setup_logging(
        Path(config.engine.log_dir),
        config.logging.level,
        config.logging.rotation_mb,
        config.logging.retention_files,
        secrets=[secrets.api_key, secrets.secret_key, secrets.passphrase, secrets.discord_webhook_url],
    )
    if config.engine.mode == "backtest":
        logger.error("mode 'backtest' is not run by 'engine start'; nothing was started")
        return 2
    try:
        engine = Engine(config, start_flat=start_flat)
    except EngineStartError as exc:
        logger.error("cannot start: {}", exc)
        return 2
    install_stop_handlers(engine.stopped.set)
    started = time.monotonic()
    try:
        engine.start()
    except EngineStartError as exc:
        logger.error("cannot start: {}", exc)
        engine.stop()
        return 2
    except Exception:
        logger.exception("start-up failed; stopping what was started")
        engine.stop()
        return 1
    if duration_s is not None:
        logger.info("bounded run: stopping after {:.0f}s", duration_s)
    engine.wait(duration_s)
    logger.info("stopping after {:.1f}s ...", time.monotonic() - started)
    engine.stop()
    return 0
