"""The HTML boards in headless Chromium at 1400 px: an XTREME board and an XTREME-R board.

What is asserted, for each board:
  * the screenshot is a PNG exactly 1400 px wide (900 high), with the dark title text in its top band;
  * the rendered DOM's <title> and <h1> are the board's title (XTREME / XTREME-R leaderboard), and the
    XTREME-R board shows the note that no published XTREME-R rows exist in the reference data;
  * in the widest table (PAN-X by language, 40 languages), the table is wider than its box at 1400 px (so it
    really scrolls, inside the table's own box, not the page), and after the box is scrolled to its right end:
      - measured in the DOM: the first column's cell stays at the box's left edge while a later cell has
        moved left by the scroll distance;
      - in pixels: the first column's area is identical in the screenshots before and after the scroll (it
        stayed, and nothing scrolled underneath shows through), while the area beside it has changed.
It skips only when no Chromium is installed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from boardkit import complete_doc
from browser import HEIGHT, WIDTH, dump_dom, need_chromium, png_size, screenshot
from test_leaderboard import write_json
from xtreme_harness.cli import leaderboard_main

TITLES = {"xtreme": "XTREME leaderboard", "xtreme-r": "XTREME-R leaderboard"}

# Test-only additions to a copy of the page: show one section, scroll its table, measure.
ONLY = "<style>section{{display:none}}section[id='{sid}']{{display:block}}</style></head>"
SCROLL = "<script>document.querySelectorAll('.scroll').forEach(d => {d.scrollLeft = d.scrollWidth;});</script>"
MEASURE = """<script>
(() => {
  const sec = document.querySelector("section[id='%s']");
  const box = sec.querySelector('.scroll');
  const row = box.querySelector('tbody tr');
  const rect = el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const out = {scrollWidth: box.scrollWidth, clientWidth: box.clientWidth, box: rect(box),
               first: rect(row.cells[0]), later: rect(row.cells[6]), table: rect(box.querySelector('table')),
               before: {}, after: {}};
  out.before = {scrollLeft: box.scrollLeft, first: rect(row.cells[0]), later: rect(row.cells[6])};
  box.scrollLeft = box.scrollWidth;
  out.after = {scrollLeft: box.scrollLeft, first: rect(row.cells[0]), later: rect(row.cells[6])};
  box.scrollLeft = 0;
  const pre = document.createElement('pre'); pre.id = 'measure'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


@pytest.fixture(scope="module")
def chromium():
    return need_chromium()


def board(tmp_path: Path, version: str) -> Path:
    runs = tmp_path / "runs"
    names = ("xlm-roberta-large fine-tuned on English, zero-shot", "mbert-base")
    for i, name in enumerate(names):
        write_json(runs / f"r{i}" / "results.json",
                   complete_doc(name, version=version, value=75 - 15 * i, step=-0.9, parameters=[560, 178][i] * 10**6))
    out = tmp_path / f"{version}.html"
    assert leaderboard_main([str(runs), "--per-language", "--out", str(out)]) == 0
    return out


def variant(page: Path, name: str, section: str, *scripts: str) -> Path:
    text = page.read_text(encoding="utf-8")
    text = text.replace("</head>", ONLY.format(sid=section), 1)
    text = text.replace("</body>", "".join(scripts) + "</body>", 1)
    out = page.with_name(f"{page.stem}-{name}.html")
    out.write_text(text, encoding="utf-8")
    return out


def dark_pixels(png: Path, box: tuple[int, int, int, int]) -> int:
    from PIL import Image

    with Image.open(png) as im:
        grey = im.convert("L").crop(box)
        return sum(grey.histogram()[:90])


@pytest.mark.parametrize("version", ["xtreme", "xtreme-r"])
def test_board_at_1400px(version, tmp_path, chromium):
    page = board(tmp_path, version)
    png = screenshot(page, tmp_path / f"{version}.png")
    assert png_size(png) == (WIDTH, HEIGHT)
    assert dark_pixels(png, (0, 0, WIDTH, 90)) > 200, "the title is drawn in the top band"
    dom = dump_dom(page)
    assert f"<title>{TITLES[version]}</title>" in dom and f"<h1>{TITLES[version]}</h1>" in dom
    if version == "xtreme-r":
        assert re.search(r'<p class="notice" role="note">No published XTREME-R rows are available in the '
                         r"reference data", dom)
        assert "Hu et al., 2020" not in dom
    else:
        assert "mBERT (Hu et al., 2020)" in dom and "No published" not in dom
    assert "xlm-roberta-large fine-tuned on English, zero-shot" in dom


@pytest.mark.parametrize("version", ["xtreme", "xtreme-r"])
def test_first_column_stays_when_a_wide_table_scrolls(version, tmp_path, chromium):
    from PIL import Image, ImageChops

    page = board(tmp_path, version)
    sid = "per_language.panx"
    measured = dump_dom(variant(page, "measure", sid, MEASURE % sid))
    m = json.loads(re.search(r'<pre id="measure">(.*?)</pre>', measured, re.S).group(1).replace("&quot;", '"'))
    assert m["scrollWidth"] > m["clientWidth"] + 200, "the table is wider than its box at 1400 px"
    assert m["box"][2] <= WIDTH, "the box itself fits the window: the table scrolls inside it, not the page"
    shift = m["after"]["scrollLeft"]
    assert shift > 200 and m["before"]["scrollLeft"] == 0
    assert m["after"]["first"][0] == pytest.approx(m["before"]["first"][0], abs=0.5), "first column stays"
    assert m["before"]["first"][0] == pytest.approx(m["box"][0] + 1, abs=1.5), "at the box's left edge"
    assert m["after"]["later"][0] == pytest.approx(m["before"]["later"][0] - shift, abs=1.0), "other cells move"

    still = screenshot(variant(page, "still", sid), tmp_path / "still.png")
    moved = screenshot(variant(page, "moved", sid, SCROLL), tmp_path / "moved.png")
    assert png_size(still) == png_size(moved) == (WIDTH, HEIGHT)
    left, top, right, bottom = (round(v) for v in m["first"])
    bottom = min(round(m["table"][3]), HEIGHT)
    first_col = (left + 1, round(m["table"][1]) + 1, right - 2, bottom - 1)
    beside = (right + 2, first_col[1], min(WIDTH, round(m["box"][2]) - 2), first_col[3])
    assert first_col[2] - first_col[0] > 40 and first_col[3] - first_col[1] > 40
    with Image.open(still) as a, Image.open(moved) as b:
        a, b = a.convert("RGB"), b.convert("RGB")
        assert ImageChops.difference(a.crop(first_col), b.crop(first_col)).getbbox() is None, \
            "the first column looks the same after the scroll"
        assert ImageChops.difference(a.crop(beside), b.crop(beside)).getbbox() is not None, \
            "the columns beside it scrolled"
    assert dark_pixels(moved, first_col) > 100, "the row names are drawn in the first column"
