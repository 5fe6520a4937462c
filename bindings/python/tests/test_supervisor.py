"""``--workers 2`` under load: the supervisor restarts a child that dies,
reloads on SIGHUP, grows and shrinks on SIGTTIN/SIGTTOU, and its children
die with it; no request fails meanwhile."""

import os
import signal
import sys
import threading
import time

import httpx
import pytest

from conftest import APPS, Proc

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads children from /proc")


def children_of(pid):
    kids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            kids.add(int(entry))
    return kids


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def wait_until(predicate, within, what):
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"{what} within {within}s"
        threading.Event().wait(0.02)
    return time.monotonic() - (deadline - within)


class Load:
    """Requests back to back from two threads until stopped; every answer
    that is not a 200 (or no answer) is a failure."""

    def __init__(self, router):
        self.url = router.url("/")
        self.stop = threading.Event()
        self.ok = 0
        self.failures = []
        self.threads = [threading.Thread(target=self.run) for _ in range(2)]
        for t in self.threads:
            t.start()

    def run(self):
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                try:
                    res = client.get(self.url)
                    if res.status_code == 200:
                        self.ok += 1
                    else:
                        self.failures.append(res.status_code)
                except httpx.HTTPError as e:
                    self.failures.append(repr(e))

    def progress(self, more, within=20):
        target = self.ok + more
        wait_until(lambda: self.ok >= target, within, f"{more} more requests served")

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        assert self.failures == [], self.failures
        return self.ok


@pytest.fixture
def supervised(router):
    procs = []

    def start(*args):
        proc = Proc(
            [sys.executable, "-m", "zroute", "flask_app:app", "--connect", router.endpoint,
             "--id", "sup", "--workers", "2", *args],
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            cwd=APPS,
        )
        procs.append(proc)
        router.wait_workers(lambda ws: sorted(w["id"] for w in ws) == ["sup-0", "sup-1"])
        wait_until(lambda: len(children_of(proc.popen.pid)) == 2, 10, "two children")
        return proc

    yield start
    for proc in procs:
        for kid in children_of(proc.popen.pid):
            os.kill(kid, signal.SIGKILL)
        proc.kill()


def sessions(router):
    return sorted(w["id"] for w in router.workers())


def test_a_killed_child_is_back_and_nothing_is_lost(router, supervised):
    sup = supervised()
    load = Load(router)
    load.progress(50)
    victim = min(children_of(sup.popen.pid))
    before = {w["session"] for w in router.workers()}
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    wait_until(
        lambda: victim not in children_of(sup.popen.pid) and len(children_of(sup.popen.pid)) == 2, 5, "a new child"
    )
    started = time.monotonic() - killed
    # Back means registered: a session the router did not have before.
    wait_until(lambda: any(w["session"] not in before for w in router.workers()), 10, "the new child registered")
    back = time.monotonic() - killed
    wait_until(lambda: sessions(router) == ["sup-0", "sup-1"], 10, "the dead child's session gone")
    print(f"a new child {started:.2f}s after the kill, registered {back:.2f}s after it")
    sup.wait_for_line(lambda l: f"worker process {victim} exited (SIGKILL)" in l and "starting another" in l, 5)
    load.progress(50)
    load.finish()


def test_sighup_reloads_every_child_without_a_failed_request(router, supervised):
    sup = supervised()
    load = Load(router)
    load.progress(50)
    before = children_of(sup.popen.pid)
    sup.signal(signal.SIGHUP)
    wait_until(lambda: not (before & children_of(sup.popen.pid)) and len(children_of(sup.popen.pid)) == 2, 30,
               "new children in place of the old")
    wait_until(lambda: sessions(router) == ["sup-0", "sup-1"], 10, "only the new children listed")
    load.progress(50)
    load.finish()


def test_sigttin_and_sigttou_add_and_remove_a_child(router, supervised):
    sup = supervised()
    load = Load(router)
    load.progress(30)
    sup.signal(signal.SIGTTIN)
    wait_until(lambda: sessions(router) == ["sup-0", "sup-1", "sup-2"], 20, "a third child registered")
    load.progress(30)
    sup.signal(signal.SIGTTOU)
    wait_until(lambda: sessions(router) == ["sup-0", "sup-1"], 20, "back to two")
    wait_until(lambda: len(children_of(sup.popen.pid)) == 2, 20, "the third child gone")
    load.progress(30)
    load.finish()


def test_children_die_with_a_killed_supervisor(router, supervised):
    sup = supervised()
    kids = children_of(sup.popen.pid)
    os.kill(sup.popen.pid, signal.SIGKILL)
    took = wait_until(lambda: not any(alive(k) for k in kids), 5, "no child left")
    print(f"children gone {took:.2f}s after the supervisor")
    assert took < 2.0, f"a child outlived its supervisor by {took:.2f}s"


def test_max_requests_replaces_children_without_a_failed_request(router, supervised):
    sup = supervised("--max-requests", "40", "--max-requests-jitter", "10")
    first = children_of(sup.popen.pid)
    load = Load(router)
    wait_until(lambda: not (first & children_of(sup.popen.pid)), 60, "both children replaced")
    sup.wait_for_line(lambda l: "reached --max-requests: replacing it" in l, 5)
    load.progress(50)
    load.finish()


RELOAD_APP = '''
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"VERSION"]
'''


def test_reload_picks_up_an_edited_module(router, tmp_path):
    module = tmp_path / "reload_app.py"
    module.write_text(RELOAD_APP.replace("VERSION", "one"))
    proc = Proc(
        [sys.executable, "-m", "zroute", "reload_app:app", "--app-dir", str(tmp_path), "--reload",
         "--connect", router.endpoint, "--id", "rl"],
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        cwd=tmp_path,
    )
    try:
        router.wait_workers(lambda ws: [w["id"] for w in ws] == ["rl-0"])
        assert router.client.get("/").text == "one"
        proc.wait_for_line(lambda l: "--reload: watching" in l, 10)
        module.write_text(RELOAD_APP.replace("VERSION", "two"))
        took = wait_until(lambda: router.client.get("/").text == "two", 10, "the edited module served")
        print(f"the edit served {took:.2f}s after it was written")
        assert took < 2.0, f"the edit took {took:.2f}s to be served"
        wait_until(lambda: len(router.workers()) == 1, 10, "the old process gone")
        # An edit that breaks the module: the new process fails to import it
        # and the one serving stays.
        module.write_text("def app(:\n")
        proc.wait_for_line(lambda l: "serves on in its slot" in l, 20)
        assert router.client.get("/").text == "two"
        module.write_text(RELOAD_APP.replace("VERSION", "three"))
        wait_until(lambda: router.client.get("/").text == "three", 10, "the fixed module served")
    finally:
        for kid in children_of(proc.popen.pid):
            os.kill(kid, signal.SIGKILL)
        proc.kill()


def test_wsgi_multiprocess_is_true_under_the_supervisor_of_two(router, supervised):
    supervised()
    assert {router.client.get("/multiprocess").text for _ in range(4)} == {"True"}


def test_wsgi_multiprocess_is_false_for_one_process(router, start_worker):
    start_worker("flask_app:app", id="single")
    assert router.client.get("/multiprocess").text == "False"
