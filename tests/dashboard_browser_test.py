#!/usr/bin/python3
"""Browser test of ftsr-dashboard in real headless Chromium.

Starts three ftsr-node processes on loopback, seeds them (a stableStore group
and a persistent counter on host2 with host3 as backup), starts the dashboard,
opens it in headless Chromium through Selenium, kills host2 with SIGKILL, and
asserts that the page's failure timeline shows the failure with the counter's
restart on host3 and its recovery, and that a trace waterfall renders. Also
measures, in the browser, the time from the kill to the failure showing on the
page; kills the dashboard and checks that the nodes carry on. Screenshots and
the measured latency go to --artifacts.

Run with /usr/bin/python3 (Debian's python3-selenium). Exit code 0 on
success; 1 with the reason otherwise.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.common.by import By


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_for(what, pred, timeout, interval=0.05):
    """Polls pred until it returns a true value; fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def start_browser(procs):
    """Starts headless Chromium and chromedriver, both on 127.0.0.1, and a
    WebDriver session attached to that browser.

    Left to themselves, Selenium reaches chromedriver and chromedriver reaches
    the browser's DevTools at "localhost", which does not resolve on a machine
    without /etc/hosts (a minimal Debian root): every hop here is given the
    loopback address instead."""
    devtools_port, driver_port = free_ports(2)
    browser = procs.start("chromium", [
        "/usr/bin/chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
        "--disable-dev-shm-usage", "--window-size=1400,2200",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=%d" % devtools_port,
        "--user-data-dir=" + os.path.join(procs.workdir, "chromium-profile"),
        "about:blank"])
    driver = procs.start("chromedriver", ["/usr/bin/chromedriver",
                                          "--port=%d" % driver_port])
    for name, proc, port in (("chromium", browser, devtools_port),
                             ("chromedriver", driver, driver_port)):
        def listening():
            if proc.poll() is not None:
                raise AssertionError(name + " exited: " + procs.log(name))
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        wait_for("%s to listen on port %d" % (name, port), listening, 30)
    opts = Options()
    opts.debugger_address = "127.0.0.1:%d" % devtools_port
    return webdriver.Remote(command_executor="http://127.0.0.1:%d" % driver_port,
                            options=opts)


class Processes:
    """The processes this test started, stopped by PID only."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = {}

    def start(self, name, argv):
        log = open(os.path.join(self.workdir, name + ".log"), "ab")
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        return self.procs[name]

    def log(self, name):
        with open(os.path.join(self.workdir, name + ".log"), errors="replace") as f:
            return f.read()

    def kill9(self, name):
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(timeout=10)

    def stop_all(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node-bin", required=True)
    ap.add_argument("--dashboard-bin", required=True)
    ap.add_argument("--ctl-bin", required=True)
    ap.add_argument("--seed-bin", required=True)
    ap.add_argument("--artifacts", required=True)
    args = ap.parse_args()
    os.makedirs(args.artifacts, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="ftsr-dashboard-browser-")
    ports = free_ports(3)
    config = os.path.join(workdir, "cluster.toml")
    with open(config, "w") as f:
        f.write('[cluster]\nname = "browser"\nheartbeat_interval_ms = 100\n'
                'failure_timeout_ms = 500\n')
        for i, port in enumerate(ports, 1):
            f.write('[[node]]\nname = "host%d"\nhost = "127.0.0.1"\nport = %d\n' % (i, port))
    procs = Processes(workdir)
    driver = None
    try:
        for i in (1, 2, 3):
            procs.start("host%d" % i, [args.node_bin, "--config", config, "--name", "host%d" % i,
                                       "--data-dir", os.path.join(workdir, "data-host%d" % i)])
        seed = subprocess.run([args.seed_bin, config], capture_output=True, text=True, timeout=60)
        if seed.returncode != 0:
            raise AssertionError("seeding failed: " + seed.stderr)
        counter = seed.stdout.strip()          # "counter#ID@host2"
        counter_actor = counter.split("@")[0]  # "counter#ID"
        print("seeded", counter)

        dash = procs.start("dashboard", [args.dashboard_bin, "--config", config,
                                         "--listen", "127.0.0.1:0"])
        def dashboard_url():
            m = re.search(r"http://127\.0\.0\.1:\d+/", procs.log("dashboard"))
            if m:
                return m.group(0)
            if dash.poll() is not None:
                raise AssertionError("dashboard exited: " + procs.log("dashboard"))
            return None
        url = wait_for("the dashboard's URL", dashboard_url, 30)
        print("dashboard at", url)

        driver = start_browser(procs)
        driver.set_script_timeout(30)
        driver.get(url)

        # The page redraws panels as the model changes: read it in one
        # script each time rather than through element references.
        def states():
            return driver.execute_script(
                "return Object.fromEntries([...document.querySelectorAll('#nodes .node')]"
                ".map(e => [e.dataset.node, e.className]));")

        def actor_rows():
            return driver.execute_script(
                "return [...document.querySelectorAll('#actors tbody tr')]"
                ".map(r => [...r.cells].map(c => c.textContent).join(' '));")
        wait_for("three nodes up on the page",
                 lambda: len(states()) == 3 and all("health-up" in c for c in states().values()), 30)
        wait_for("the counter on host2 in the actors panel",
                 lambda: any(" counter host2 " in r for r in actor_rows()), 30)
        wait_for("the live stream", lambda: driver.find_element(By.ID, "live").text == "live", 30)
        driver.save_screenshot(os.path.join(args.artifacts, "dashboard-before-kill.png"))

        # Timestamp, in the page, of the failure's first appearance.
        driver.execute_script("""
          window.__failureSeen = null;
          const seen = () => {
            if (!window.__failureSeen && document.querySelector('.failure[data-member^="host2/"]'))
              window.__failureSeen = Date.now();
          };
          new MutationObserver(seen).observe(document.body, {childList: true, subtree: true});
        """)
        killed_ms = time.time() * 1000.0
        procs.kill9("host2")
        seen_ms = wait_for("the failure of host2 on the timeline",
                           lambda: driver.execute_script("return window.__failureSeen;"), 30)
        latency_ms = seen_ms - killed_ms
        print("kill -9 to failure on the page: %.0f ms" % latency_ms)

        def failure_text():
            return driver.execute_script(
                "const f = document.querySelector('.failure[data-member^=\"host2/\"]');"
                "return f ? f.textContent : '';")
        wait_for("the counter's restart on host3 and its recovery on the timeline",
                 lambda: ("restarted %s on host3" % counter_actor) in failure_text()
                 and "recovery ok" in failure_text(), 30)
        text = failure_text()
        print("timeline:", text.replace("\n", " | "))
        assert "detected" in text, text
        wait_for("host2 failed in the nodes panel",
                 lambda: "health-failed" in states()["host2"], 30)
        wait_for("the counter on host3 at generation 1 in the actors panel",
                 lambda: any(re.search(r" counter host3 \d+ 1 alive ", r) for r in actor_rows()), 30)

        # The waterfall of the restart's trace (detection, restart, ...).
        driver.execute_script(
            "[...document.querySelectorAll('.failure[data-member^=\"host2/\"] a.trace-link')]"
            ".find(a => a.textContent === 'restart trace').click();")

        def waterfall_kinds():
            return driver.execute_script(
                "return [...document.querySelectorAll('#waterfall .wf-row')]"
                ".map(r => r.dataset.kind);")
        kinds = wait_for("a trace waterfall with the restart",
                         lambda: "restart" in waterfall_kinds() and waterfall_kinds(), 30)
        print("waterfall:", kinds)
        assert "failure_detected" in kinds, kinds
        bars = driver.execute_script(
            "return document.querySelectorAll('#waterfall .span-bar').length;")
        assert bars == len(kinds), (bars, kinds)
        driver.execute_script("document.getElementById('timeline-panel').scrollIntoView();")
        driver.save_screenshot(os.path.join(args.artifacts, "dashboard-after-kill.png"))
        driver.execute_script("document.getElementById('traces-panel').scrollIntoView();")
        driver.save_screenshot(os.path.join(args.artifacts, "dashboard-waterfall.png"))

        # A dashboard killed never harms a node.
        procs.kill9("dashboard")
        status = subprocess.run([args.ctl_bin, "--config", config, "status"],
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        for name in ("host1", "host3"):
            assert procs.procs[name].poll() is None, name + " exited: " + procs.log(name)
            assert re.search(r"^%s .* up" % name, status.stdout, re.M), status.stdout

        with open(os.path.join(args.artifacts, "kill-to-page.json"), "w") as f:
            json.dump({"kill_to_page_ms": round(latency_ms, 1)}, f)
        print("PASS")
        return 0
    except Exception as e:  # report, keep the evidence
        if driver is not None:
            driver.save_screenshot(os.path.join(args.artifacts, "dashboard-failure.png"))
        print("FAIL:", e, file=sys.stderr)
        for name in procs.procs:
            print("--- log of %s (last 2000 bytes) ---\n%s" % (name, procs.log(name)[-2000:]),
                  file=sys.stderr)
        return 1
    finally:
        if driver is not None:
            driver.quit()
        procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
