"""The on-disk cache of fetched intensity: SQLite under :func:`recommender.config.cache_dir`.

Every fetched point is kept with its source, zone, signal and fetch time; a fetch log says
when each (source, zone, signal) was last fetched, so calls within the TTL make no request and
a failing source can fall back to what it said before. Only figures are stored: never a key,
password or token.

Concurrent processes are safe: WAL journal, a busy timeout, and each write in one
transaction. They also share fetches: a process about to fetch a key takes a lease on it (a
row with an expiry, so a crashed holder's lease lapses); the others wait for the holder's
answer in the cache, or its failure, instead of asking the API too (single-flight). Entries
older than ``keep_s`` are pruned on write. A file that is not a readable database is deleted
and rebuilt with a warning; any other trouble turns the cache off for the run (with a
warning), never fails the command.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from recommender.intensity.model import Point, ZoneSeries, iso, parse_time, utc

SCHEMA_VERSION = 1
FILENAME = "intensity.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fetches (
    source TEXT NOT NULL, zone TEXT NOT NULL, signal TEXT NOT NULL,
    fetched_at TEXT NOT NULL, observed_at TEXT, period_s INTEGER NOT NULL,
    label TEXT NOT NULL, zone_name TEXT NOT NULL DEFAULT '', has_history INTEGER NOT NULL,
    PRIMARY KEY (source, zone, signal)
);
CREATE TABLE IF NOT EXISTS points (
    source TEXT NOT NULL, zone TEXT NOT NULL, signal TEXT NOT NULL,
    time TEXT NOT NULL, kind TEXT NOT NULL, gco2_per_kwh REAL NOT NULL,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (source, zone, signal, time, kind)
);
CREATE TABLE IF NOT EXISTS leases (
    source TEXT NOT NULL, zone TEXT NOT NULL, signal TEXT NOT NULL,
    holder TEXT NOT NULL, expires_at REAL NOT NULL, state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '', auth INTEGER NOT NULL DEFAULT 0,
    access INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, zone, signal)
);
"""
#: (source, zone, signal): what one fetch and one lease are about.
Key = tuple[str, str, str]
#: Entries fetched longer ago than this are deleted on write (the default ``keep_s``).
KEEP_S = 7 * 24 * 3600.0
# Points older than this before a fetch are not read back (a series needs 24 h of history).
_LOOKBACK = timedelta(hours=26)


@dataclass(frozen=True)
class Lease:
    """Another process's lease on a key: ``held`` (fetching) or ``failed`` (with the fault)."""

    state: str
    reason: str = ""
    auth: bool = False
    access: bool = False


def default_path() -> Path:
    from recommender.config import cache_dir

    return cache_dir() / FILENAME


class IntensityCache:
    """Read and write fetched series. Used from one thread; other processes may share it."""

    def __init__(
        self,
        path: Path | None = None,
        warn: Callable[[str], None] | None = None,
        *,
        keep_s: float = KEEP_S,
    ):
        self.path = path or default_path()
        self.warn = warn or (lambda message: None)
        self.keep_s = keep_s
        self._holder = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"  # whose leases are ours
        self._conn: sqlite3.Connection | None = None
        self.disabled = False
        self.hits = 0
        self.misses = 0

    # -- connection -----------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            row = conn.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            conn.execute("COMMIT")
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is None or version[0] != str(SCHEMA_VERSION):
                raise sqlite3.DatabaseError("unknown schema version")
        except BaseException:
            conn.close()
            raise
        return conn

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    @property
    def conn(self) -> sqlite3.Connection | None:
        if self.disabled:
            return None
        if self._conn is None:
            try:
                self._conn = self._open()
            except sqlite3.OperationalError as exc:
                if not _looks_corrupt(exc):
                    self._disable(f"cannot open ({_short(exc)})")
                    return None
                return self._rebuild()
            except sqlite3.DatabaseError:
                return self._rebuild()
            except OSError as exc:
                self._disable(f"cannot open ({type(exc).__name__})")
                return None
        return self._conn

    def _rebuild(self) -> sqlite3.Connection | None:
        self.warn(f"intensity cache {self.path} was corrupt: rebuilt it (cached figures lost)")
        try:
            self._remove_files()
            self._conn = self._open()
        except (sqlite3.Error, OSError) as exc:
            self._disable(f"cannot rebuild ({type(exc).__name__})")
            return None
        return self._conn

    def _disable(self, why: str) -> None:
        self.warn(f"intensity cache {self.path} {why}: continuing without it")
        self.disabled = True
        self._conn = None
        return None

    def _guard(self, action: Callable[[sqlite3.Connection], object]) -> object:
        """Run ``action``; a corrupt file is rebuilt once, other errors turn the cache off."""
        for attempt in range(2):
            conn = self.conn
            if conn is None:
                return None
            try:
                return action(conn)
            except sqlite3.OperationalError as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if not _looks_corrupt(exc):
                    self._disable(f"failed ({_short(exc)})")
                    return None
            except sqlite3.DatabaseError:
                pass
            self.close()
            if attempt == 0:
                self._rebuild()
        return None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    # -- reads and writes -----------------------------------------------------------------

    def load(
        self,
        source: str,
        zone: str,
        signal: str,
        now: datetime,
        max_age: float,
        *,
        history: bool = False,
        count: bool = True,
    ) -> ZoneSeries | None:
        """The series last fetched for this key if it is at most ``max_age`` seconds old
        (and has history when that is asked for). ``count=False``: a poll while waiting on
        another process's fetch, not counted as a miss."""

        def read(conn: sqlite3.Connection) -> ZoneSeries | None:
            row = conn.execute(
                "SELECT fetched_at, observed_at, period_s, label, zone_name, has_history "
                "FROM fetches WHERE source = ? AND zone = ? AND signal = ?",
                (source, zone, signal),
            ).fetchone()
            if row is None:
                return None
            fetched = parse_time(row[0])
            age = (now - fetched).total_seconds()
            if age > max_age or age < -300 or (history and not row[5]):
                return None
            since = iso(fetched - _LOOKBACK)
            points = conn.execute(
                "SELECT time, kind, gco2_per_kwh FROM points WHERE source = ? AND zone = ? "
                "AND signal = ? AND time >= ? AND fetched_at = ? ORDER BY time",
                (source, zone, signal, since, row[0]),
            ).fetchall()
            if not points:
                return None
            return ZoneSeries(
                source=source,
                label=row[3],
                zone=zone,
                period_s=int(row[2]),
                points=tuple(
                    Point(parse_time(t), float(g), "forecast" if k == "forecast" else "actual")
                    for t, k, g in points
                ),
                fetched_at=fetched,
                observed_at=parse_time(row[1]) if row[1] else None,
                signal=signal,
                has_history=bool(row[5]),
                zone_name=row[4],
            )

        result = self._guard(read)
        series = result if isinstance(result, ZoneSeries) else None
        if series is None:
            self.misses += int(count)
        else:
            self.hits += 1
        return series

    def store(self, series_list: Iterable[ZoneSeries]) -> None:
        """Keep these series (one transaction), and delete entries fetched more than
        ``keep_s`` before now (or before the newest of these, if that is earlier)."""
        items = list(series_list)
        if not items:
            return
        newest = max(utc(s.fetched_at) for s in items)
        cutoff = iso(min(datetime.now(UTC), newest) - timedelta(seconds=self.keep_s))

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM fetches WHERE fetched_at < ?", (cutoff,))
            conn.execute("DELETE FROM points WHERE fetched_at < ?", (cutoff,))
            conn.execute("DELETE FROM leases WHERE expires_at < ?", (time.time(),))
            for s in items:
                fetched = iso(s.fetched_at)
                conn.execute(
                    "INSERT OR REPLACE INTO fetches (source, zone, signal, fetched_at, "
                    "observed_at, period_s, label, zone_name, has_history) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        s.source,
                        s.zone,
                        s.signal,
                        fetched,
                        iso(s.observed_at),
                        s.period_s,
                        s.label,
                        s.zone_name,
                        int(s.has_history),
                    ),
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO points (source, zone, signal, time, kind, "
                    "gco2_per_kwh, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (s.source, s.zone, s.signal, iso(p.time), p.kind, p.gco2_per_kwh, fetched)
                        for p in s.points
                    ],
                )
            conn.execute("COMMIT")

        self._guard(write)

    # -- leases: one fetch per key among processes ----------------------------------------

    def claim(self, keys: Collection[Key], lease_s: float) -> set[Key]:
        """Take a lease of ``lease_s`` seconds on each key that nobody holds (or whose lease
        lapsed); the keys taken. Without a usable cache every key is the caller's."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return set()

        def take(conn: sqlite3.Connection) -> set[Key]:
            now = time.time()
            taken: set[Key] = set()
            conn.execute("BEGIN IMMEDIATE")
            for key in wanted:
                row = conn.execute(
                    "SELECT expires_at FROM leases WHERE source = ? AND zone = ? AND signal = ?",
                    key,
                ).fetchone()
                if row is not None and row[0] > now:
                    continue
                conn.execute(
                    "INSERT OR REPLACE INTO leases (source, zone, signal, holder, expires_at, "
                    "state) VALUES (?, ?, ?, ?, ?, 'held')",
                    (*key, self._holder, now + lease_s),
                )
                taken.add(key)
            conn.execute("COMMIT")
            return taken

        result = self._guard(take)
        return result if isinstance(result, set) else set(wanted)

    def release(
        self,
        keys: Iterable[Key],
        failures: Mapping[Key, tuple[str, bool, bool]] | None = None,
        hold_s: float = 0.0,
    ) -> None:
        """Give up our leases on ``keys``. A key in ``failures`` (reason, auth, access) stays
        marked as failed for ``hold_s`` seconds, so processes waiting on it take the fault
        instead of asking a failing API again."""
        items = list(dict.fromkeys(keys))
        failures = failures or {}
        if not items:
            return

        def write(conn: sqlite3.Connection) -> None:
            now = time.time()
            conn.execute("BEGIN IMMEDIATE")
            for key in items:
                where = "source = ? AND zone = ? AND signal = ? AND holder = ?"
                if key in failures and hold_s > 0:
                    reason, auth, access = failures[key]
                    conn.execute(
                        "UPDATE leases SET state = 'failed', expires_at = ?, reason = ?, "
                        f"auth = ?, access = ? WHERE {where}",
                        (now + hold_s, reason, int(auth), int(access), *key, self._holder),
                    )
                else:
                    conn.execute(f"DELETE FROM leases WHERE {where}", (*key, self._holder))
            conn.execute("COMMIT")

        self._guard(write)

    def lease_state(self, key: Key) -> Lease | None:
        """The live lease on ``key``: held while another fetch of it runs, failed for a while
        after that fetch failed; None when nobody holds it (the caller may claim it)."""

        def read(conn: sqlite3.Connection) -> Lease | None:
            row = conn.execute(
                "SELECT state, expires_at, reason, auth, access FROM leases "
                "WHERE source = ? AND zone = ? AND signal = ?",
                key,
            ).fetchone()
            if row is None or row[1] <= time.time():
                return None
            return Lease(str(row[0]), str(row[2]), bool(row[3]), bool(row[4]))

        result = self._guard(read)
        return result if isinstance(result, Lease) else None

    # -- carbonplan cache info -------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Entries per source, the oldest and newest fetch, and the size of the files."""
        size = sum(
            Path(str(self.path) + suffix).stat().st_size
            for suffix in ("", "-wal", "-shm")
            if Path(str(self.path) + suffix).is_file()
        )
        empty: dict[str, Any] = {
            "file": str(self.path),
            "bytes": size,
            "entries": 0,
            "points": 0,
            "sources": {},
            "oldest": None,
            "newest": None,
        }
        if not self.path.is_file():
            return empty

        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            per_source = conn.execute(
                "SELECT source, COUNT(*) FROM fetches GROUP BY source ORDER BY source"
            ).fetchall()
            span = conn.execute("SELECT MIN(fetched_at), MAX(fetched_at) FROM fetches").fetchone()
            points = conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
            return {
                **empty,
                "entries": sum(n for _, n in per_source),
                "points": int(points),
                "sources": {str(source): int(n) for source, n in per_source},
                "oldest": span[0],
                "newest": span[1],
            }

        result = self._guard(read)
        return result if isinstance(result, dict) else empty

    def remove(self) -> list[Path]:
        """Delete the cache's files; the ones that existed."""
        self.close()
        removed = []
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = Path(str(self.path) + suffix)
            if path.exists():
                path.unlink()
                removed.append(path)
        return removed


def _looks_corrupt(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def _short(exc: sqlite3.Error) -> str:
    return str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
