#!/usr/bin/env python3
"""Headless Chromium drives the UI of `ditstream serve` on the embedded tiny model: submit a prompt,
watch the live stream over WHEP (the video's currentTime advances and frames are decoded), save
screenshots, and check the dashboard's charts and engine timeline have data. Everything stays on 127.0.0.1: the server
binds there, its ICE agent and Chromium's host resolver are restricted to it, and no STUN/TURN
server is configured."""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ditstream", required=True, help="the ditstream binary")
    parser.add_argument("--artifacts", required=True)
    args = parser.parse_args()
    os.makedirs(args.artifacts, exist_ok=True)

    workdir = tempfile.mkdtemp(prefix="ditstream-browser-")
    server = subprocess.Popen([args.ditstream, "serve", "--bind", "127.0.0.1", "--port", "0",
                               "--recordings", os.path.join(workdir, "recordings"),
                               "--db", os.path.join(workdir, "jobs.sqlite"), "--ice-interface", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        while port is None:
            line = server.stderr.readline()
            assert line, "ditstream serve exited before listening"
            found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
            port = found and int(found.group(1))
        base = f"http://127.0.0.1:{port}"
        # Keep draining the log so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()

        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--allow-loopback-in-peer-connection",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--autoplay-policy=no-user-gesture-required",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--no-proxy-server", "--no-first-run", "--disable-background-networking", "--disable-sync",
            "--disable-component-update", "--disable-default-apps", "--disable-domain-reliability",
            "--window-size=1280,1100",
        ]:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(base + "/")
            prompt = driver.find_element(By.ID, "prompt")
            prompt.send_keys("A red kite over a green hill")
            for field, value in {"steps": "16", "frames": "17", "fps": "10"}.items():
                el = driver.find_element(By.ID, field)
                el.clear()
                el.send_keys(value)
            driver.find_element(By.ID, "submit").click()

            def playing():
                return driver.execute_script(
                    "const v = document.getElementById('player');"
                    "const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {totalVideoFrames: 0};"
                    "return v.currentTime > 1.0 && q.totalVideoFrames > 8 && v.videoWidth > 0"
                    " ? [v.currentTime, q.totalVideoFrames, v.videoWidth, v.videoHeight] : null;")

            try:
                state = wait_for(playing, 30, "the live video to play")
            except AssertionError:
                print("player status:", driver.find_element(By.ID, "player-status").text)
                print("form error:", driver.find_element(By.ID, "form-error").text)
                print("video:", driver.execute_script(
                    "const v = document.getElementById('player'); return [v.currentTime, v.readyState, v.videoWidth,"
                    " v.srcObject ? v.srcObject.getTracks().length : -1, v.paused];"))
                for entry in driver.get_log("browser"):
                    print("console:", entry)
                print("pc:", driver.execute_script(
                    "const pc = viewer.pc; return pc ? [pc.connectionState, pc.iceConnectionState, pc.signalingState,"
                    " pc.remoteDescription && pc.remoteDescription.sdp] : null;"))
                driver.save_screenshot(os.path.join(args.artifacts, "browser_failure.png"))
                raise
            print(f"playing: currentTime {state[0]:.2f} s, {state[1]} frames decoded, {state[2]}x{state[3]}")
            assert state[2] == 64 and state[3] == 64, state
            t0 = state[0]
            later = wait_for(lambda: (lambda s: s if s and s[0] > t0 + 0.5 else None)(playing()), 10, "currentTime to advance")
            print(f"still playing: currentTime {later[0]:.2f} s, {later[1]} frames decoded")
            driver.save_screenshot(os.path.join(args.artifacts, "browser_player.png"))

            wait_for(lambda: driver.execute_script(
                "const row = document.querySelector('#jobs tbody tr');"
                "return row && row.children[1].textContent === 'completed' && row.querySelector('a') !== null;"),
                40, "the job to complete with a download link")

            def charted():
                return driver.execute_script(
                    "const c = window.ditstreamCharts;"
                    "if (!c || !c['chart-jobs'] || !c['chart-stages']) return null;"
                    "const jobs = c['chart-jobs'].data.datasets[0].data.filter(x => x !== null).length;"
                    "const stages = c['chart-stages'].data.datasets[0].data.length;"
                    "return jobs > 0 && stages >= 5 ? [jobs, stages, c['chart-stages'].data.labels] : null;")

            charts = wait_for(charted, 20, "the dashboard charts to have data")
            print(f"dashboard: {charts[0]} job(s) charted, {charts[1]} stage means: {charts[2]}")
            timeline = wait_for(lambda: driver.execute_script(
                "const t = window.ditstreamTimeline; return t && t.spans > 16 && t.lanes >= 3 ? t : null;"),
                20, "the engine timeline to show the job's spans")
            print(f"timeline: {timeline['spans']} spans on {timeline['lanes']} lanes")
            driver.execute_script("document.getElementById('dashboard').scrollIntoView()")
            time.sleep(0.3)
            driver.save_screenshot(os.path.join(args.artifacts, "browser_dashboard.png"))
            errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
            assert not errors, errors
        finally:
            driver.quit()
    finally:
        server.terminate()
        server.wait(timeout=20)
    print("browser test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
