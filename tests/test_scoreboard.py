"""The scoreboard: its pages link every FAIL and xfail cell to what explains it, its speed
column reads pytest-benchmark JSON, the command runs end to end, and the HTML renders in a
real headless browser (skipped where none is installed)."""
import html.parser
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.model.features import COLUMNS
from conformance.scoreboard import bench, render
from conformance.scoreboard.runner import Result

REPO = Path(__file__).resolve().parents[1]
META = {"command": "lstm-conformance scoreboard (test)", "date": "today", "machine": "here"}


def _report(status_of, failures=(), xfail=None, versions=None):
    return {"features": {c: {"status": status_of.get(c, "pass"), "examples": 3}
                         for c in COLUMNS},
            "failures": list(failures), "xfail": xfail or {}, "summary": None,
            "versions": versions or {"torch": "2.13.0+cpu", "fancylib": "1.0"}}


def _results(tmp_path):
    repro = tmp_path / "reports" / "bad" / "repro" / "bad__test_packed.py"
    repro.parent.mkdir(parents=True)
    repro.write_text("print('repro')\n")
    failure = {"test": "conformance/suite/test_packed.py::test_packed[bad]",
               "columns": ["packed"], "message": "candidate 'bad' does not match <nn.LSTM>",
               "shrunk": "CaseRecipe(spec=LSTMSpec(2, 3), lengths=(1, 2))",
               "repro": "repro/bad__test_packed.py"}
    return [
        Result("good", 25, 12.0, 0, _report({"proj_size": "unsupported"}), tmp_path),
        Result("bad", 3, 40.0, 1, _report({"packed": "fail", "backward": "xfail"}, [failure],
                                          {"backward": "raises; docs/divergences/x_case.py"}),
               tmp_path / "reports" / "bad"),
        Result("missing", None, 0.0, None, None, None, unavailable="fancylib not installed"),
    ]


def _write(tmp_path):
    """Pages as the command writes them: repro scripts and divergences copied next to them."""
    from conformance.scoreboard import cli

    out = tmp_path / "board"
    results = _results(tmp_path)
    (out / "divergences").mkdir(parents=True)
    (out / "divergences" / "x_case.py").write_text("print('divergence')\n")
    copied = cli._copy_repros(results, out)
    link = lambda r, f: render.relative(copied[(r.name, f["repro"])], out.resolve())
    div = lambda p: render.relative(out.resolve() / "divergences" / Path(p).name, out.resolve())
    (out / "index.html").write_text(render.page(results, META, link, div, {"good": 1.5}))
    (out / "scoreboard.md").write_text(render.markdown(results, META, link, div))
    return out


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "href" in attrs:
            self.hrefs.append(attrs["href"])
        if "id" in attrs:
            self.ids.add(attrs["id"])


def _check_links(page_html: str, page_dir: Path):
    links = Links()
    links.feed(page_html)
    assert links.hrefs
    for href in links.hrefs:
        if href.startswith("#"):
            assert href[1:] in links.ids, href
        else:
            assert (page_dir / href).is_file(), href
    return links


def test_fail_and_xfail_cells_link_to_their_explanation(tmp_path):
    out = _write(tmp_path)
    page = (out / "index.html").read_text()
    links = _check_links(page, out)
    assert "#fail-bad-0" in links.hrefs and "#xfail-bad" in links.hrefs
    assert "repro/bad/bad__test_packed.py" in links.hrefs
    assert "divergences/x_case.py" in links.hrefs
    assert "fancylib not installed" in page and "1.50x" in page
    assert "&lt;nn.LSTM&gt;" in page  # messages are escaped
    md = (out / "scoreboard.md").read_text()
    assert "[**FAIL**](#fail-bad-0)" in md and "(repro/bad/bad__test_packed.py)" in md
    assert "| good | torch 2.13.0+cpu, fancylib 1.0 | 3 (25) | 12 |" in md


def test_bench_ratios_are_relative_to_nn_lstm():
    group, ratios = bench.ratios(REPO / "docs" / "bench" / "bench.json")
    assert group == bench.DEFAULT_GROUP
    assert ratios["nn.LSTM"] == 1.0
    assert 1.5 < ratios["fused-torch"] < 2.5  # docs/benchmarks.md: 1.99x


def test_scoreboard_command_end_to_end(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "scoreboard", "--impl", "numpy",
         "--max-examples", "numpy=2", "--out", str(tmp_path), "--",
         "-k", "test_single_layer_cell or test_candidate_loads"],
        capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    md = (tmp_path / "scoreboard.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| numpy |"))
    assert row.startswith("| numpy | - |")  # built-ins declare no versions
    assert "(2)" in row and "ok " in row
    report = json.loads((tmp_path / "reports" / "numpy" / "conformance-report.json").read_text())
    assert report["candidates"][0]["versions"] == {}  # built-ins declare none
    assert (tmp_path / "index.html").is_file()


BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(BROWSER is None, reason="no chromium here (apt-get install chromium)")
def test_html_renders_in_a_headless_browser(tmp_path):
    """The browser's DOM has the table and every link target, and a screenshot is taken."""
    out = _write(tmp_path)
    url = (out / "index.html").resolve().as_uri()
    flags = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True,
                         timeout=120).stdout
    assert "<table>" in dom and "LSTM conformance scoreboard" in dom
    _check_links(dom, out)
    png = tmp_path / "board.png"
    subprocess.run(flags + [f"--screenshot={png}", "--window-size=1600,900", url],
                   capture_output=True, timeout=120)
    assert png.is_file() and png.stat().st_size > 10_000
    for href in ("repro/bad/bad__test_packed.py", "divergences/x_case.py"):  # links open
        text = subprocess.run(flags + ["--dump-dom", (out / href).resolve().as_uri()],
                              capture_output=True, text=True, timeout=120).stdout
        assert "print(" in text, href
