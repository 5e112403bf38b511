"""Make the README's screenshot of a real report (docs/report.png) with headless Chromium.

    python scripts/report_screenshot.py [--out docs/report.png] [--height 2300]

Runs `carbonplan report --gpu-hours 400 --baseline aws:us-east-1` into a temporary directory and
photographs the top of report.html (summary, trade-off chart, budget ladder). Needs Debian's
`chromium` (apt-get install chromium).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

COMMAND = ["report", "--gpu-hours", "400", "--baseline", "aws:us-east-1"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/report.png"))
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=2300)
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        print("needs chromium: apt-get install chromium", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r"
        subprocess.run(
            [sys.executable, "-m", "recommender", *COMMAND, "--out", str(report)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                f"--user-data-dir={Path(tmp) / 'profile'}",
                "--hide-scrollbars",
                f"--window-size={args.width},{args.height}",
                f"--screenshot={args.out.resolve()}",
                (report / "report.html").as_uri(),
            ],
            check=True,
            capture_output=True,
        )
    print(
        f"wrote {args.out} ({args.out.stat().st_size:,} bytes) from carbonplan {' '.join(COMMAND)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
