"""LatestJob: one owned worker per kind of slow request, the newest request first, every request answered."""

import threading

from latentvj.bridge.jobs import LatestJob


def test_a_burst_runs_the_first_and_the_newest_and_answers_the_rest():
    started, release = threading.Event(), threading.Event()
    ran, superseded = [], []

    def run(request):
        ran.append(request)
        started.set()
        release.wait(10)

    job = LatestJob("test-job", run, superseded=lambda old, new: superseded.append((old, new)))
    job.start()
    try:
        job.submit(0)
        assert started.wait(10)
        for n in range(1, 100):
            job.submit(n)  # never blocks, though the worker is busy
        assert len([t for t in threading.enumerate() if t.name == "test-job"]) == 1
        release.set()
        assert job.wait_idle(10)
        assert ran == [0, 99]
        assert superseded == [(n, n + 1) for n in range(1, 99)] and job.replaced == 98
    finally:
        job.stop()


def test_a_job_that_raises_does_not_end_the_worker(caplog):
    ran = []

    def run(request):
        ran.append(request)
        if request == "bad":
            raise RuntimeError("a bug in the job")

    job = LatestJob("test-job", run)
    job.start()
    try:
        job.submit("bad")
        assert job.wait_idle(10)
        job.submit("good")
        assert job.wait_idle(10)
        assert ran == ["bad", "good"] and "a bug in the job" in caplog.text
    finally:
        job.stop()


def test_stop_drops_what_waits_and_joins():
    release = threading.Event()
    ran = []
    job = LatestJob("test-job", lambda r: (ran.append(r), release.wait(10)))
    job.start()
    job.submit(1)
    job.submit(2)
    release.set()
    job.stop(timeout=10)
    assert not job._thread.is_alive()
    job.submit(3)  # after stop: ignored
    assert 3 not in ran
