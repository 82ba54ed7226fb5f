"""Library log records never reach the terminal: they go to a log file, or nowhere.

The Azure SDK logs warnings with tracebacks on paths that succeed in the end (a failsafe deserialization of
an error body, "Incomplete download." on a dropped connection the engine retries). With no handler
configured, Python prints them on stderr. :func:`route_library_logs` gives the SDK's loggers (``azure``,
``msal``, ``urllib3``) one handler, a file when one is named, and stops them from propagating further.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

LOG_FILE_ENV = "BATCHFORGE_LOG_FILE"
# Libraries only: batchforge's own loggers stay as the embedding program (or a test) configures them.
ROUTED_LOGGERS = ("azure", "msal", "urllib3")
_MARK = "_batchforge_route"


def default_log_file() -> Path:
    """``$BATCHFORGE_LOG_FILE``, else ``$XDG_STATE_HOME/batchforge/batchctl.log`` (``~/.local/state/...``)."""
    configured = os.environ.get(LOG_FILE_ENV)
    if configured:
        return Path(configured)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "batchforge" / "batchctl.log"


def append_to_log(log_file: Path, text: str) -> bool:
    """Appends ``text`` (e.g. a traceback) to the log file; False when it cannot be written."""
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")
    except OSError:
        return False
    return True


def _handler(log_file: Path | None) -> logging.Handler:
    if log_file is None:
        return logging.NullHandler()
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return logging.NullHandler()
    # delay: the file is created only when a record arrives, so a quiet run leaves nothing behind.
    handler = logging.FileHandler(log_file, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
    return handler


def route_library_logs(log_file: Path | None = None) -> Path | None:
    """Sends the SDK's log records to ``log_file`` (None: ``$BATCHFORGE_LOG_FILE`` if set, else nowhere).

    Idempotent: a second call replaces the handler the first one installed. Returns the file records go to.
    """
    if log_file is None and os.environ.get(LOG_FILE_ENV):
        log_file = Path(os.environ[LOG_FILE_ENV])
    handler = _handler(log_file)
    setattr(handler, _MARK, True)
    for name in ROUTED_LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, _MARK, False)]:
            logger.removeHandler(old)
            old.close()
        logger.addHandler(handler)
        logger.propagate = False
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
    return log_file if isinstance(handler, logging.FileHandler) else None
