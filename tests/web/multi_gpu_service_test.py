#!/usr/bin/env python3
"""`ditstream serve --gpus 2` on the embedded tiny model: two rank processes, rank 0 serves HTTP on
127.0.0.1 and both run every job (context-parallel transformer, VAE tiles over the ranks).
Checks that /healthz reports both ranks, that a full 30-step job completes with every frame and a
recording, that a job cancelled mid-way stops and the ranks stay in step for the next job; then
kills rank 1 with SIGKILL during a job: that job fails promptly naming rank 1 and the signal, a job
queued before the kill waits, /healthz goes restarting → ok with one restart, the launcher's new
rank 1 and rank 0 form a new world and run the queued job on 2 ranks; and that SIGTERM stops every
rank cleanly. Exits 77 (skipped) with fewer than two CUDA devices."""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request


def cuda_devices():
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return len([line for line in out.splitlines() if line.startswith("GPU ")])


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, response.read()


def wait_for_status(base, video_id, wanted, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        record = json.loads(call(base, "GET", f"/v1/videos/{video_id}")[1])
        if record["status"] in wanted:
            return record
        time.sleep(0.2)
    raise AssertionError(f"video {video_id} did not reach {wanted} in {timeout} s")


def rank_pids(launcher_pid):
    """{rank: pid} of the launcher's children, read from /proc."""
    ranks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != launcher_pid:
                continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        except (OSError, ValueError, IndexError):
            continue
        if b"RANK" in env:
            ranks[int(env[b"RANK"])] = int(entry)
    return ranks


def health(base):
    try:
        status, body = call(base, "GET", "/healthz")
    except urllib.error.HTTPError as e:  # 503 once the ranks failed for good
        status, body = e.code, e.read()
    return status, json.loads(body)


def kill_rank_1_during_a_job(base, server, job):
    """SIGKILL to rank 1 while a job runs and another waits; returns a line for the log."""
    before = rank_pids(server.pid)
    assert set(before) == {0, 1}, before
    status, body = call(base, "POST", "/v1/videos", dict(job, steps=400, seed=6))
    running = json.loads(body)["id"]
    status, body = call(base, "POST", "/v1/videos", dict(job, steps=6, seed=7))
    queued = json.loads(body)["id"]
    wait_for_status(base, running, {"in_progress"}, 60)
    while json.loads(call(base, "GET", f"/v1/videos/{running}")[1]).get("step", 0) < 2:
        time.sleep(0.05)
    killed_at = time.time()
    os.kill(before[1], signal.SIGKILL)

    record = wait_for_status(base, running, {"completed", "failed", "canceled"}, 60)
    failed_after = time.time() - killed_at
    assert record["status"] == "failed", record
    message = record["error"]["message"]
    assert f"rank 1 (pid {before[1]}) was killed by signal 9" in message, message
    assert "the ranks are being restarted" in message, message
    assert failed_after < 30, f"the job failed {failed_after:.1f} s after the kill"

    # The queued job waits while the ranks restart; /healthz says so.
    seen_restarting = False
    deadline = time.time() + 180
    while time.time() < deadline:
        code, h = health(base)
        state = h.get("rank_group", {}).get("state")
        if state == "restarting":
            seen_restarting = True
            assert h["status"] == "degraded", h
            queued_status = json.loads(call(base, "GET", f"/v1/videos/{queued}")[1])["status"]
            assert queued_status == "queued", queued_status
        if state == "ok" and h["rank_group"]["restarts"] == 1:
            break
        assert state in ("ok", "restarting"), h
        time.sleep(0.1)
    else:
        raise AssertionError(f"/healthz did not come back to ok within 180 s: {h}")
    recovered_after = time.time() - killed_at
    assert seen_restarting, "never saw the ranks restarting"
    assert h["status"] == "ok" and h["rank_group"]["generation"] == 1 and h["ranks"] == 2, h

    record = wait_for_status(base, queued, {"completed", "failed", "canceled"}, 180)
    assert record["status"] == "completed", record
    assert record["frames_done"] == 9, record
    after = rank_pids(server.pid)
    assert set(after) == {0, 1} and after[0] == before[0] and after[1] != before[1], (before, after)
    metrics = call(base, "GET", "/metrics")[1].decode()
    assert "ditstream_rank_restarts_total 1" in metrics, [l for l in metrics.splitlines() if "rank" in l]
    return (f"rank 1 killed: the running job failed after {failed_after:.1f} s, the ranks were back after "
            f"{recovered_after:.1f} s, the queued job completed on the new world (rank 1 pid {before[1]} -> {after[1]})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ditstream", required=True)
    args = parser.parse_args()
    if cuda_devices() < 2:
        print("no CUDA device: fewer than two GPUs present")
        return 77

    workdir = tempfile.mkdtemp(prefix="ditstream-2gpu-")
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", NCCL_SOCKET_IFNAME="lo")
    server = subprocess.Popen([args.ditstream, "serve", "--gpus", "2", "--device", "cuda", "--dtype", "bfloat16",
                               "--bind", "127.0.0.1", "--port", "0", "--ice-interface", "127.0.0.1",
                               "--max-steps", "1000",
                               "--recordings", os.path.join(workdir, "recordings"),
                               "--db", os.path.join(workdir, "jobs.sqlite")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    log = []
    try:
        port = None
        while port is None:
            line = server.stderr.readline()
            assert line, "ditstream serve exited before listening:\n" + "".join(log)
            log.append(line)
            found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
            port = found and int(found.group(1))
        threading.Thread(target=lambda: [log.append(l) for l in server.stderr], daemon=True).start()
        base = f"http://127.0.0.1:{port}"

        health = json.loads(call(base, "GET", "/healthz")[1])
        assert health["ranks"] == 2, health
        assert "ulysses" in health["parallelism"] or "ring" in health["parallelism"], health

        job = {"prompt": "two GPUs, one video", "width": 128, "height": 96, "frames": 9, "steps": 30, "seed": 3}
        status, body = call(base, "POST", "/v1/videos", job)
        assert status == 202, (status, body)
        first = json.loads(body)["id"]
        record = wait_for_status(base, first, {"completed", "failed", "canceled"}, 300)
        assert record["status"] == "completed", record
        assert record["frames_done"] == 9, record
        status, mp4 = call(base, "GET", f"/v1/videos/{first}/content")
        assert status == 200 and mp4[4:8] == b"ftyp", (status, mp4[:16])
        print(f"30-step job on 2 ranks: {record['timings']}")

        # Cancel mid-way: both ranks stop at the same step, and the next job still runs on both.
        status, body = call(base, "POST", "/v1/videos", dict(job, steps=100, seed=4))
        second = json.loads(body)["id"]
        wait_for_status(base, second, {"in_progress"}, 60)
        while json.loads(call(base, "GET", f"/v1/videos/{second}")[1]).get("step", 0) < 2:
            time.sleep(0.05)
        call(base, "DELETE", f"/v1/videos/{second}")
        assert wait_for_status(base, second, {"completed", "failed", "canceled"}, 60)["status"] == "canceled"
        status, body = call(base, "POST", "/v1/videos", dict(job, steps=4, seed=5))
        third = json.loads(body)["id"]
        assert wait_for_status(base, third, {"completed", "failed", "canceled"}, 120)["status"] == "completed"

        print(kill_rank_1_during_a_job(base, server, job), flush=True)
        status, body = call(base, "POST", "/v1/videos", dict(job, steps=4, seed=8))
        fourth = json.loads(body)["id"]
        assert wait_for_status(base, fourth, {"completed", "failed", "canceled"}, 120)["status"] == "completed"
    except BaseException:
        sys.stderr.write("".join(log[-80:]))
        raise
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            raise AssertionError("the ranks did not stop within 60 s of SIGTERM")
    assert code == 0, f"exit code {code}:\n" + "".join(log[-40:])
    print("2-rank service: health, 30-step job, cancel, next job, rank 1 killed and restarted, shutdown all fine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
