"""The report in a real browser: headless Chromium opens report.html from disk.

Checks that the page renders without console errors or exceptions, shows the verdict,
that every figure is an image the browser decoded (naturalWidth > 0), and that a scenario
name made of HTML shows as text. A screenshot of each page is saved in the test's tmp dir.

The layout is checked in a window 1,280 px wide (``WIDTH``), a laptop screen: the page
never scrolls sideways, every table and figure fits inside the text column (a table too
wide even so, such as one holding a very long override, scrolls inside its own box), the
commands wrap, each figure has a caption that describes it, and a run without an
autoscaler has no instances figure.

Chromium is driven over the DevTools protocol on ``--remote-debugging-pipe`` (fd 3 in,
fd 4 out, messages are JSON ended by a NUL byte) with the standard library only. CI
installs Debian's ``chromium`` (.ci/run); without it these tests are skipped.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import sim
from sim.report import build_report

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"{CHROMIUM} not installed (apt-get install chromium; .ci/run installs it)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--remote-debugging-pipe"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WIDTH = 1280


class Browser:
    """A headless Chromium and one page, over the DevTools pipe."""

    def __init__(self, profile: Path) -> None:
        to_child_r, self._out = os.pipe()
        self._in, from_child_w = os.pipe()

        def wire() -> None:  # runs in the child: the pipe ends become fds 3 and 4
            # Out of the way first (a pipe end may itself be fd 3 or 4), then into place,
            # inheritable (a dup2 onto the same number would keep close-on-exec).
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child_r, from_child_w)]
            for fd, target in zip(high, (3, 4), strict=True):
                os.dup2(fd, target)
                os.set_inheritable(target, True)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # Chromium wants the pipe on fds 3 and 4 exactly; two dup2 calls are all
            # that runs between fork and exec.
            preexec_fn=wire, close_fds=False)  # noqa: PLW1509
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)

    def _send(self, msg: dict[str, Any]) -> None:
        os.write(self._out, json.dumps(msg).encode() + b"\0")

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        msg: dict[str, Any] = json.loads(raw)
        return msg

    def call(self, method: str, session: bool = False, timeout: float = 30.0,
             **params: Any) -> dict[str, Any]:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        self._send(msg)
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> None:
        if any(e["method"] == method for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return

    def open(self, path: Path, width: int = WIDTH) -> None:
        self.events.clear()
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width,
                  height=1400, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", session=True, url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        out = self.call("Runtime.evaluate", session=True, expression=expression,
                        returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in out:
            raise RuntimeError(f"evaluate failed: {out['exceptionDetails']}")
        return out["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen on the page."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error",
                                                                               "assert"):
                out.append(" ".join(str(a.get("value", a.get("description")))
                                    for a in p.get("args", [])))
            elif e["method"] == "Runtime.exceptionThrown":
                out.append(str(p.get("exceptionDetails", {}).get("text")))
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(str(p["entry"].get("text")))
        return out

    def screenshot(self, path: Path) -> Path:
        out = self.call("Page.captureScreenshot", session=True, format="png",
                        captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(out["data"]))
        return path

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close", timeout=5.0)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._in)
        os.close(self._out)


PAGE_STATE = """(() => {
  const imgs = Array.from(document.images);
  return {
    decision: (document.querySelector('#verdict .word') || {}).textContent || null,
    reason: (document.querySelector('#verdict .reason') || {}).textContent || null,
    h1: document.querySelector('h1').textContent,
    scripts: document.scripts.length,
    images: imgs.map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth,
                           h: i.naturalHeight})),
    figures: document.querySelectorAll('figure').length,
    height: document.documentElement.scrollHeight,
  };
})()"""


# Where each box sits against the text column (the body's content box), in CSS pixels.
LAYOUT = """(() => {
  const body = document.body, cs = getComputedStyle(body);
  const left = body.getBoundingClientRect().left + parseFloat(cs.paddingLeft);
  const right = body.getBoundingClientRect().right - parseFloat(cs.paddingRight);
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, scroll: el.scrollWidth, client: el.clientWidth,
            text: el.innerText.slice(0, 80)};
  };
  return {
    viewport: document.documentElement.clientWidth,
    page: document.documentElement.scrollWidth,
    column: [left, right],
    tables: Array.from(document.querySelectorAll('table')).map(box),
    pres: Array.from(document.querySelectorAll('pre.commands')).map(box),
    figures: Array.from(document.querySelectorAll('figure')).map(f => ({
      id: f.id, ...box(f), img: box(f.querySelector('img')),
      alt: f.querySelector('img').alt,
      caption: (f.querySelector('figcaption') || {}).textContent || ''})),
    headers: Array.from(document.querySelectorAll('#findings table th'))
      .map(th => th.textContent),
    notes: Array.from(document.querySelectorAll('#figures .note')).map(p => p.textContent),
  };
})()"""


def _check_layout(browser: Browser) -> dict[str, Any]:
    """At 1,280 px: no sideways scroll; tables, commands and figures inside the column;
    every figure captioned with more than its title. Returns the layout for more checks."""
    layout = browser.evaluate(LAYOUT)
    left, right = layout["column"]
    assert layout["viewport"] == WIDTH
    assert layout["page"] <= layout["viewport"], "the page scrolls sideways"
    assert right - left > 900  # the column uses the width it has
    for el in [*layout["tables"], *layout["pres"], *layout["figures"],
               *(f["img"] for f in layout["figures"])]:
        assert left - 0.5 <= el["left"] and el["right"] <= right + 0.5, el
    for el in layout["pres"]:
        assert el["scroll"] <= el["client"], f"commands do not wrap: {el['text']}"
    for k, fig in enumerate(layout["figures"], start=1):
        head = f"Figure {k}. {fig['alt']}. "
        assert fig["caption"].startswith(head), fig["caption"]
        # The caption goes on to say what this figure shows: a sentence or more.
        assert len(fig["caption"]) - len(head) > 60, fig["caption"]
    return layout


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    sim.run(["arrivals.audience=3000", "run.horizon_s=400", "run.progress=false",
             'name="<img src=x onerror=alert(1)> launch"'], outdir=out)
    return out


def _check_page(browser: Browser, html: Path, shot: Path) -> dict[str, Any]:
    browser.open(html)
    state = browser.evaluate(PAGE_STATE)
    assert browser.errors() == []
    assert state["scripts"] == 0
    assert state["images"], "no figures on the page"
    assert len(state["images"]) == state["figures"]
    for img in state["images"]:
        assert img["complete"] and img["w"] > 0 and img["h"] > 0, img
    browser.screenshot(shot)
    data = shot.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 20_000
    return state


def test_run_report_renders_in_chromium(browser: Browser, run_dir: Path,
                                        tmp_path: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    state = _check_page(browser, run_dir / "report.html", tmp_path / "run_report.png")
    # This small crowd holds, so the verdict is GO on the scenario with headroom unmeasured.
    assert summary["slo"]["met"] is True
    assert state["decision"].startswith("GO on this scenario; headroom not measured")
    assert "failure-point sweep" in state["decision"]
    assert "The SLO holds throughout" in state["reason"]
    # The name is shown as text, not turned into an element.
    assert "<img src=x onerror=alert(1)> launch" in state["h1"]
    figures = sorted(f.stem for f in (run_dir / "figures").glob("*.png"))
    assert len(state["images"]) == len(figures)
    # A crowd this small never queues and nothing attacks it: those figures are left out.
    assert figures == ["amplification", "clients", "listeners", "slo", "utilization"]
    layout = _check_layout(browser)
    # Every table of a run fits the column without scrolling: text cells wrap.
    for table in layout["tables"]:
        assert table["scroll"] <= table["client"], table
    # No autoscaler and fixed fleets: no instances figure, and the page says why.
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["autoscaler"]["kind"] \
        == "none"
    assert "fig-instances" not in {f["id"] for f in layout["figures"]}
    assert any("there is no instances figure" in n for n in layout["notes"])
    assert any("there is no queue figure" in n for n in layout["notes"])
    assert any("there is no attack or mitigation figure" in n for n in layout["notes"])


def test_breached_run_and_sweep_render_in_chromium(browser: Browser, run_dir: Path,
                                                   tmp_path: Path) -> None:
    top = tmp_path / "sweep"
    # Job 0 keeps the real run's report; job 1 breaches and gets its own.
    for i, (value, met) in enumerate([(1000, True), (3000, False)]):
        job = top / str(i)
        shutil.copytree(run_dir, job)
        if not met:
            s = json.loads((job / "summary.json").read_text())
            s["slo"].update(met=False, first_breach_s=305.0, bottleneck="join",
                            recovered_s=None)
            (job / "summary.json").write_text(json.dumps(s))
        (job / ".hydra").mkdir(exist_ok=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- arrivals.audience={value}\n")
    build_report(top / "1")
    later = (top / "0" / "summary.json").stat().st_mtime + 1
    os.utime(top / "0" / "report.html", (later, later))
    state = _check_page(browser, top / "1" / "report.html", tmp_path / "breach.png")
    assert state["decision"] == "NO-GO"
    assert "t = 305 s" in state["reason"] and "join" in state["reason"]
    build_report(top, expected_peak=3000)
    state = _check_page(browser, top / "report.html", tmp_path / "sweep_report.png")
    assert state["decision"] == "NO-GO"
    assert "expected arrivals.audience = 3,000" in state["reason"]
    assert len(state["images"]) == len(list((top / "figures").glob("*.png"))) >= 1
    layout = _check_layout(browser)
    for table in layout["tables"]:
        assert table["scroll"] <= table["client"], table
    # The per-variant table has the share that joined.
    assert "Joined" in layout["headers"]


def test_too_wide_table_scrolls_in_its_own_box(browser: Browser, run_dir: Path,
                                               tmp_path: Path) -> None:
    """A sweep whose swept value is one long unbroken word: its tables cannot fit, so
    they scroll inside their own box, and the page itself still does not scroll."""
    top = tmp_path / "wide"
    for i in range(2):
        job = top / str(i)
        shutil.copytree(run_dir, job)
        (job / ".hydra").mkdir(exist_ok=True)
        (job / ".hydra" / "overrides.yaml").write_text(
            f"- arrivals.audience={1000 * (i + 1)}\n- name=n{i}{'x' * 240}\n")
        later = (job / "summary.json").stat().st_mtime + 1
        os.utime(job / "report.html", (later, later))
    build_report(top)
    browser.open(top / "report.html")
    assert browser.errors() == []
    layout = _check_layout(browser)
    assert any(t["scroll"] > t["client"] for t in layout["tables"])
