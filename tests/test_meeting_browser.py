"""The meeting page in a real browser: headless Chromium renders it and the 0% bar shows."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from datetime import timedelta
from pathlib import Path

import pytest

from app.reports import report_html
from app.reports.charts import COLOURS
from app.reports.meeting import build
from tests.factories import ACME
from tests.factories import AMSTERDAM as TZ
from tests.factories import MEETING_LATE as LATE
from tests.factories import MEETING_NOW as NOW
from tests.factories import MEETING_SINCE as SINCE
from tests.factories import MEETING_T0 as T0
from tests.factories import stored_clock as clock

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="chromium is not installed")


def pixels(png: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """Width, height and RGB(A) pixels of a non-interlaced 8-bit PNG (what Chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data, width = 8, b"", 0
    height = channels = 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            data += body
        pos += 12 + length
    raw, stride = zlib.decompress(data), width * channels
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    found = [tuple(row[x : x + channels]) for row in rows for x in range(0, stride, channels)]
    return width, height, found


def screenshot(html: Path, out: Path, height: int) -> bytes:
    assert BROWSER is not None
    subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--hide-scrollbars",
            f"--window-size=1400,{height}",
            f"--screenshot={out}",
            html.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return out.read_bytes()


def test_chromium_renders_the_page_and_the_zero_percent_bar_shows(tmp_path: Path) -> None:
    answered = clock(1)  # urgent, in time
    late = clock(
        2,
        priority="normal",
        state="breached",
        met_at=LATE,
        response_seconds=3 * 3600,
        breached_at=T0 + timedelta(hours=1),
    )
    page = tmp_path / "meeting.html"
    page.write_text(report_html.as_html(build(ACME, [answered, late], {}, SINCE, NOW, TZ)))
    width, _, found = pixels(screenshot(page, tmp_path / "shot.png", 1800))
    assert width == 1400
    assert len(set(found)) > 50  # text, tables and charts were drawn, not a blank page
    blue = tuple(int(COLOURS["normal"][i : i + 2], 16) for i in (1, 3, 5))

    def near(pixel: tuple[int, ...]) -> bool:
        return all(abs(pixel[i] - blue[i]) <= 10 for i in range(3))

    legend_swatch = 14 * 14
    # The normal bar is 0% met: beside its legend swatch, a sliver at least one row high.
    assert sum(1 for pixel in found if near(pixel)) >= legend_swatch + 56
