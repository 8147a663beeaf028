"""Two real `veracity serve` processes on loopback sharing one PostgreSQL database and one home (the
index directory a shared file system would hold): jobs, decisions' store and the index lock are
shared; an upload to either is indexed once and both serve the new version."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from api_support import template_home
from pg_support import free_port

from pipeline.db import Database


def start_replica(cli, home: Path, url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = cli.env(home / "corpora") | {"VERACITY_DATABASE_URL": url, "VERACITY_HOME": str(home)}
    proc = subprocess.Popen(
        cli.argv("--home", home, "serve", "--port", port, "--no-auth", "--corpus", "sample"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(procs: list[tuple[subprocess.Popen, str]], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    for proc, base in procs:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"replica {base} exited: {proc.stderr.read()[-3000:]}")
            try:
                if httpx.get(base + "/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"replica {base} not ready after {timeout:g} s")
            time.sleep(0.5)


def wait_job(base: str, job_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = httpx.get(f"{base}/v1/jobs/{job_id}", timeout=10).json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.3)


def upload(base: str, name: str, text: str) -> dict:
    r = httpx.post(
        f"{base}/v1/corpora/sample/documents", files=[("files", (name, text.encode()))], timeout=30
    )
    assert r.status_code == 202, r.text
    return r.json()


def versions(home: Path) -> set[str]:
    return {p.name for p in (home / "indexes" / "sample").iterdir() if p.is_dir() and p.name.startswith("v")}


def verify(base: str, answer: str) -> dict:
    r = httpx.post(f"{base}/v1/verify", json={"answer": answer, "corpus": "sample"}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def test_two_replicas_share_jobs_and_index_each_upload_once(cli, postgres, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(template_home(), home, symlinks=True)
    url = postgres.create_database()
    replicas = [start_replica(cli, home, url), start_replica(cli, home, url)]
    try:
        wait_ready(replicas)
        (a, base_a), (b, base_b) = replicas
        before = versions(home)
        job = upload(
            base_a, "fees.txt", "FEE SCHEDULE\nThe onboarding fee is four thousand two hundred dollars."
        )
        seen = httpx.get(f"{base_b}/v1/jobs/{job['id']}", timeout=10)  # the other replica knows the job
        assert seen.status_code == 200 and seen.json()["corpus"] == "sample"
        done = wait_job(base_b, job["id"])
        assert done["status"] == "succeeded" and done["result"]["added"] == ["fees.txt"], done
        assert len(versions(home) - before) == 1  # indexed once
        answer = "The onboarding fee is four thousand two hundred dollars."
        ra, rb = verify(base_a, answer), verify(base_b, answer)
        assert ra["versions"]["index"] == rb["versions"]["index"]  # both serve the new version
        for r in (ra, rb):
            assert r["sentences"][0]["verdict"] == "supported", r["sentences"][0]
            assert r["sentences"][0]["citations"][0]["doc_id"] == "fees.txt"
        db = Database(url)
        owners = db.query("SELECT owner FROM jobs WHERE id = ?", (job["id"],))
        assert len(owners) == 1 and owners[0]["owner"].split(":")[1] == str(a.pid)  # run by the replica asked

        # one upload to each replica at once: the index lock lets one index at a time, both land
        before = versions(home)
        j1 = upload(base_a, "late.txt", "LATE FEES\nLate payments bear interest of two percent per month.")
        j2 = upload(base_b, "hours.txt", "SUPPORT HOURS\nSupport is available from eight to six on weekdays.")
        assert wait_job(base_b, j1["id"])["status"] == "succeeded"
        assert wait_job(base_a, j2["id"])["status"] == "succeeded"
        assert 1 <= len(versions(home) - before) <= 2  # never more versions than uploads
        for base in (base_a, base_b):
            cited = {
                s["citations"][0]["doc_id"]
                for s in verify(
                    base,
                    "Late payments bear interest of two percent per month. "
                    "Support is available from eight to six on weekdays.",
                )["sentences"]
            }
            assert cited == {"late.txt", "hours.txt"}, (base, cited)
        assert {r["owner"].split(":")[1] for r in db.query("SELECT owner FROM jobs")} == {
            str(a.pid),
            str(b.pid),
        }
        db.close()
    finally:
        for proc, _ in replicas:
            proc.terminate()
        for proc, _ in replicas:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        postgres.drop_database(url)
