"""CPU (and DRAM) energy from Linux RAPL powercap counters.

Each domain under ``/sys/class/powercap`` (``intel-rapl:N`` is a CPU package, a
``intel-rapl:N:M`` child named ``dram`` its memory) has ``energy_uj``, a counter of
microjoules that wraps at ``max_energy_range_uj``. A counter read less than the previous one
has wrapped once (the meter samples far more often than the ~minute a counter takes to wrap).
``energy_uj`` is readable by root only on most kernels since 2020 (CVE-2020-8694): then the
CPU figure is an estimate, marked as such (see :mod:`recommender.track.meter`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ROOT = Path("/sys/class/powercap")


@dataclass
class Domain:
    """One counter: its directory, its kind (``package`` or ``dram``) and running total."""

    path: Path
    kind: str
    max_range_uj: int
    last_uj: int
    total_uj: int = 0

    def advance(self, now_uj: int) -> None:
        delta = now_uj - self.last_uj
        if delta < 0:  # wrapped: up to max_energy_range_uj, then from 0 to now
            delta = now_uj + self.max_range_uj - self.last_uj if self.max_range_uj > 0 else 0
            delta = max(delta, 0)
        self.total_uj += delta
        self.last_uj = now_uj


def _read_int(path: Path) -> int:
    with path.open(encoding="ascii") as handle:
        return int(handle.read().strip())


@dataclass
class Rapl:
    """The readable package and DRAM counters under ``root``; ``skipped`` says why others
    were left out (unreadable, malformed)."""

    domains: list[Domain] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, root: Path | None = None) -> Rapl:
        root = root or Path(os.environ.get("CARBONPLAN_POWERCAP_ROOT", DEFAULT_ROOT))
        rapl = cls()
        if not root.is_dir():
            rapl.skipped.append(f"{root}: no powercap directory")
            return rapl
        for path in sorted(root.glob("intel-rapl:*")):
            depth = path.name.count(":")
            try:
                name = path.joinpath("name").read_text(encoding="ascii").strip()
            except (OSError, UnicodeDecodeError):
                rapl.skipped.append(f"{path.name}: name unreadable")
                continue
            if depth == 1 and name.startswith("package"):
                kind = "package"
            elif depth == 2 and name == "dram":
                kind = "dram"
            else:  # core/uncore are inside their package; psys is the whole platform
                continue
            try:
                now = _read_int(path / "energy_uj")
                top = _read_int(path / "max_energy_range_uj")
            except (OSError, ValueError) as exc:
                why = exc.strerror if isinstance(exc, OSError) else "not a number"
                rapl.skipped.append(f"{path.name}: energy_uj unreadable ({why})")
                continue
            rapl.domains.append(Domain(path, kind, top, now))
        return rapl

    def has(self, kind: str) -> bool:
        return any(d.kind == kind for d in self.domains)

    def sample(self) -> None:
        """Read every counter once, adding what it moved since the last read. A counter that
        becomes unreadable keeps what it had counted."""
        for domain in self.domains:
            try:
                domain.advance(_read_int(domain.path / "energy_uj"))
            except (OSError, ValueError):
                continue

    def joules(self, kind: str) -> float:
        return sum(d.total_uj for d in self.domains if d.kind == kind) / 1e6
