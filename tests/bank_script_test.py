#!/usr/bin/python3
"""Test of scripts/bank.sh, the README's main command, on prebuilt binaries.

Runs bank.sh (FTSR_BUILD_DIR: no build) on a fresh 3-host cluster on free
loopback ports with a short fault schedule, and checks that it prints the
dashboard's URL while the bank runs, that the URL serves that cluster's
dashboard (the page and /api/cluster) at that moment, that the run ends with
the checker's verdict and exit code 0, and that the dashboard is stopped
afterwards (its port refuses connections).

Exit code 0 on success; 1 with the reason otherwise.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def cluster_file(path, ports):
    with open(path, "w") as f:
        f.write('[cluster]\nname = "bank-script-test"\n'
                "heartbeat_interval_ms = 100\nfailure_timeout_ms = 500\n")
        for i, port in enumerate(ports, 1):
            f.write('\n[[node]]\nname = "host%d"\nhost = "127.0.0.1"\n'
                    "port = %d\n" % (i, port))


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read().decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--build-dir", required=True)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ftsr-bank-script-")
    config = os.path.join(work, "cluster.toml")
    cluster_file(config, free_ports(3))
    env = dict(os.environ, FTSR_BUILD_DIR=os.path.abspath(args.build_dir),
               BANK_CONFIG=config, BANK_DIR=os.path.join(work, "run"))
    cmd = ["bash", os.path.join(args.source_dir, "scripts/bank.sh"),
           "--faults", "2", "--clients", "2", "--interval", "300",
           "--schedule", "kill:host2", "stop:host1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    # Bounds the whole run: the script is killed (by its PID) if it hangs.
    timer = threading.Timer(240, proc.kill)
    timer.start()
    output, url, checked = [], None, False
    try:
        for line in proc.stdout:
            output.append(line)
            sys.stdout.write(line)
            m = re.match(r"dashboard: (http://127\.0\.0\.1:\d+/)", line)
            if m and url is None:
                # The bank is running now: the dashboard serves this cluster.
                url = m.group(1)
                status, page = get(url)
                assert status == 200 and "<html" in page.lower(), page[:200]
                status, body = get(url + "api/cluster")
                model = json.loads(body)
                assert status == 200 and model["cluster"] == "bank-script-test", body[:300]
                checked = True
        code = proc.wait()
    finally:
        timer.cancel()
    text = "".join(output)
    if url is None:
        print("FAIL: bank.sh printed no 'dashboard: URL' line")
        return 1
    if not checked:
        print("FAIL: the dashboard at %s was not checked" % url)
        return 1
    if code != 0:
        print("FAIL: bank.sh exited with %d" % code)
        return 1
    if "verdict" not in text.lower():
        print("FAIL: bank.sh printed no verdict")
        return 1
    # Stopped with the script: nothing listens on its port any more.
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        print("FAIL: the dashboard still listens on %d after bank.sh ended" % port)
        return 1
    except ConnectionRefusedError:
        pass
    finally:
        s.close()
    print("PASS: bank.sh printed %s, the dashboard served the cluster and "
          "stopped with the script" % url)
    shutil.rmtree(work, ignore_errors=True)  # kept on failure, for its logs
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        print("FAIL: %s" % e)
        sys.exit(1)
