"""Sandbox v2 (issue 8): one case per attack class, each from a plain train.py.

The test plants secrets with a random marker (an admin key in a data dir above the
run's work dir, a 0600 shadow-like file, a SQLite database), a harness whose sha256 is
taken before, a unix socket server on the host, then runs hostile train files and looks
for the marker in everything a run produces (log, metrics, checkpoint, summary) and for
anything the run changed or left behind. The same probe also runs with the worker as an
unprivileged user (a private mount namespace makes the test's Python readable to it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

import trainer
from trainer.runner import RunConfig, run
from trainer.runner.sandbox import SandboxSettings, sandbox_problem

pytestmark = pytest.mark.skipif(
    sandbox_problem(SandboxSettings()) is not None,
    reason=f"no sandbox on this machine: {sandbox_problem(SandboxSettings())}",
)

PROBE = r"""
import json, os, socket, sqlite3, sys, glob

P = json.loads(PARAMS)
found, writable, reached, notes = [], [], [], {}


def grab(path):
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError as exc:
        return str(exc.errno)
    if P["tag"].encode() in data:
        found.append(path)
    return data[:200].decode(errors="replace")


def try_write(path):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)  # proves write access, writes nothing
        os.close(fd)
        writable.append(path)
    except OSError:
        pass


def try_create(folder):
    path = os.path.join(folder, "pwned-" + str(os.getpid()))
    try:
        with open(path, "w") as f:
            f.write("x")
        writable.append(path)
    except OSError:
        pass


def attack():
    # secrets: known absolute paths, relative walks up from the work dir, a scan of /
    for path in P["secrets"]:
        grab(path)
    for k in range(0, 10):
        grab("../" * k + "admin.key")
        grab("../" * k + "loopy.db")
    for path in ("/etc/shadow", "/proc/1/environ", "/proc/self/environ"):
        notes[path] = grab(path)
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            grab(f"/proc/{pid}/environ")
            grab(f"/proc/{pid}/cmdline")
            try:
                fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)
                os.close(fd)
                writable.append(f"/proc/{pid}/mem")
            except OSError:
                pass
    notes["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    notes["root"] = sorted(os.listdir("/"))
    seen = 0
    for folder, dirs, files in os.walk("/", onerror=None):
        if folder.startswith(("/proc", "/sys", "/dev")):
            dirs[:] = []
            continue
        for name in files:
            seen += 1
            if name in ("admin.key", "loopy.db", "shadow-like"):
                found.append(os.path.join(folder, name))
                grab(os.path.join(folder, name))
    notes["files_seen"] = seen
    try:
        db = sqlite3.connect(P["db"])
        db.execute("insert into secrets values ('pwned')")
        db.commit()
        writable.append(P["db"])
    except Exception as exc:
        notes["db"] = str(exc)
    # the harness, through every name it might have
    for path in P["harness_files"] + glob.glob("/data/*"):
        try_write(path)
    # the shards themselves: a training child that could read them could train on fresh
    # data past its budget; its batches come from the supervisor only
    notes["harness_readable"] = []
    for path in P["harness_files"] + glob.glob("/data/**", recursive=True):
        try:
            with open(path, "rb") as f:
                f.read(1)
            notes["harness_readable"].append(path)
        except OSError:
            pass
    # the runner's and the virtual environment's code
    for path in P["code_files"]:
        try_write(path)
    for folder in P["code_dirs"]:
        try_create(folder)
    # host services: a unix socket server by path, an abstract one, /run
    for address in (P["socket"], "\0" + P["abstract"]):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(1)
        try:
            s.connect(address)
            reached.append(address.strip("\0"))
        except OSError as exc:
            notes["connect " + address.strip("\0")] = str(exc)
        s.close()
    notes["run"] = os.path.exists("/run")
    # identity
    status = dict(
        line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line
    )
    notes["uid"] = os.getuid()
    for key in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
        notes[key] = status[key].strip()
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    for flag, name in ((0x10000000, "unshare"), (0x00020000, "unshare_mount")):
        if libc.unshare(flag) == 0:
            notes[name] = "allowed"
        else:
            notes[name] = os.strerror(ctypes.get_errno())


def build_model(config):
    import torch
    return torch.nn.Linear(2, 2)


def train(ctx):
    attack()
    report = {"found": found, "writable": writable, "reached": reached, "notes": notes}
    print("REPORT=" + json.dumps(report))
    # every way out a leaked secret could take: the log, a metric, the checkpoint
    leak = " ".join(grab(p) for p in found)
    print("LEAK=" + leak)
    ctx.report(0, loss=1.0, **{("x" + leak)[:60]: 1.0})
    ctx.save(build_model({}), {"leak": leak[:1000]})
"""


TAG = "LOOPY-PLANTED-"


def _sha256_tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class Planted:
    """Secrets, a harness copy and a socket server, all carrying one random marker."""

    def __init__(self, root: Path, harness_dir: Path) -> None:
        self.marker = uuid.uuid4().hex
        self.root = root
        self.data_dir = root / "data"
        (self.data_dir / "cache" / "work" / "1").mkdir(parents=True)
        self.admin_key = self.data_dir / "admin.key"
        self.admin_key.write_text(f"loopy_admin_{TAG}{self.marker}\n")
        self.shadow = root / "shadow-like"
        self.shadow.write_text(f"root:{TAG}{self.marker}:19000:0:99999:7:::\n")
        self.shadow.chmod(0o600)
        self.db = self.data_dir / "loopy.db"
        with sqlite3.connect(self.db) as db:
            db.execute("create table secrets (value text)")
            db.execute("insert into secrets values (?)", (TAG + self.marker,))
        self.harness = root / "harness"
        shutil.copytree(harness_dir, self.harness)
        self.harness_sha = _sha256_tree(self.harness)
        self.db_sha = hashlib.sha256(self.db.read_bytes()).hexdigest()
        self.socket_path = root / "host.sock"
        self.abstract = f"loopy-test-{uuid.uuid4().hex}"  # names are not secrets
        self.accepted: list[str] = []
        self.servers = [socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)]
        self.servers[0].bind(str(self.socket_path))
        self.servers[1].bind("\0" + self.abstract)
        for server in self.servers:
            server.listen()
            server.settimeout(0.1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            for server in self.servers:
                try:
                    conn, _ = server.accept()
                    self.accepted.append("accepted")
                    conn.close()
                except OSError:
                    continue

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for server in self.servers:
            server.close()

    def params(self) -> dict:
        code_root = Path(trainer.__file__).resolve().parent
        site = Path(json.__file__).resolve().parent.parent  # the stdlib
        venv_site = next(Path(p) for p in sys.path if p.endswith("site-packages"))
        return {
            "tag": TAG,  # what precedes the marker: the probe itself never knows the marker
            "secrets": [str(self.admin_key), str(self.shadow), str(self.db)],
            "db": str(self.db),
            "harness_files": [str(p) for p in self.harness.iterdir()],
            "code_files": [
                str(code_root / "runner" / "supervisor.py"),
                str(code_root / "runner" / "evaluation.py"),
                str(site / "json" / "__init__.py"),
                str(venv_site / "msgspec" / "__init__.py"),
            ],
            "code_dirs": [str(code_root / "runner"), str(venv_site), str(site)],
            "socket": str(self.socket_path),
            "abstract": self.abstract,
        }

    def source(self) -> str:
        return f"PARAMS = {json.dumps(json.dumps(self.params()))}\n" + PROBE


def _outputs(out: Path) -> dict[str, bytes]:
    """Everything a run hands on: log, metrics, checkpoint (trusted copy), summary."""
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def _report(out: Path) -> dict:
    line = next(x for x in (out / "run.log").read_text().splitlines() if x.startswith("REPORT="))
    return json.loads(line[len("REPORT=") :])


@pytest.fixture(scope="module")
def probe_run(harness_dir, tmp_path_factory):
    """One hostile probe run (as the worker runs it: out dir inside the data dir)."""
    root = tmp_path_factory.mktemp("sealed")
    planted = Planted(root, harness_dir)
    out = planted.data_dir / "cache" / "work" / "1" / "run-probe"
    try:
        result = run(
            RunConfig(
                harness_dir=str(planted.harness),
                train_source=planted.source(),
                budget_s=1.0,
                out_dir=str(out),
                threads=1,
                startup_allowance_s=60.0,
                memory_limit_mb=4096,
            )
        )
    finally:
        planted.close()
    return planted, result, out


def _assert_contained(
    planted: Planted, out: Path, expected_uid: int, worker_uid: int | None = None
) -> None:
    report = _report(out)
    for name, data in _outputs(out).items():
        assert planted.marker.encode() not in data, f"the marker leaked into {name}"
    assert report["found"] == [], report["found"]
    writable = report["writable"]
    if expected_uid == (worker_uid if worker_uid is not None else os.geteuid()):
        # bwrap's own init inside the sandbox shares the uid when the worker is not root:
        # no capability, nothing outside; the supervisor kills it from outside regardless
        writable = [p for p in writable if p != "/proc/1/mem"]
    assert writable == [], writable
    assert report["reached"] == [] and planted.accepted == []
    assert _sha256_tree(planted.harness) == planted.harness_sha
    assert hashlib.sha256(planted.db.read_bytes()).hexdigest() == planted.db_sha
    notes = report["notes"]
    assert notes["uid"] == expected_uid != 0
    assert notes["CapEff"] == notes["CapPrm"] == notes["CapAmb"] == "0000000000000000"
    assert notes["NoNewPrivs"] == "1" and notes["Seccomp"] == "2"
    assert notes["unshare"] != "allowed" and notes["unshare_mount"] != "allowed"
    assert notes["run"] is False


def test_secrets_above_the_work_dir_and_host_files_do_not_leak(probe_run):
    planted, result, out = probe_run
    report = _report(out)
    assert result.sandbox["sandbox"] == "bubblewrap" and result.sandbox_mode == "bubblewrap"
    assert report["found"] == [], f"the child read planted secrets: {report['found']}"
    for name, data in _outputs(out).items():
        assert planted.marker.encode() not in data, f"the marker leaked into {name}"
    assert report["notes"]["/etc/shadow"] == "2"  # ENOENT: not even there
    assert "shadow-like" not in json.dumps(report["notes"])


def test_sqlite_database_is_neither_readable_nor_writable(probe_run):
    planted, _, out = probe_run
    assert planted.db.as_posix() not in _report(out)["writable"]
    assert hashlib.sha256(planted.db.read_bytes()).hexdigest() == planted.db_sha


def test_harness_files_keep_their_sha256_and_are_not_linked_into_the_run(probe_run):
    planted, _, out = probe_run
    report = _report(out)
    assert not [p for p in report["writable"] if "/data/" in p or "harness" in p]
    assert _sha256_tree(planted.harness) == planted.harness_sha
    assert all(p.stat().st_nlink == 1 for p in planted.harness.iterdir())


def test_training_child_can_read_no_harness_file(probe_run):
    _, _, out = probe_run
    assert _report(out)["notes"]["harness_readable"] == []


def test_runner_and_environment_code_is_read_only(probe_run):
    _, _, out = probe_run
    report = _report(out)
    assert report["writable"] == [], report["writable"]
    code_root = Path(trainer.__file__).resolve().parent
    assert not list(code_root.rglob("pwned-*"))


def test_no_view_of_host_processes_or_their_memory(probe_run):
    planted, _, out = probe_run
    notes = _report(out)["notes"]
    assert len(notes["pids"]) <= 3, notes["pids"]  # bwrap's init, the child (and a thread)
    assert not [p for p in _report(out)["writable"] if p.endswith("/mem")]


def test_host_unix_sockets_and_run_are_unreachable(probe_run):
    planted, _, out = probe_run
    report = _report(out)
    assert report["reached"] == [] and planted.accepted == []
    assert report["notes"]["run"] is False


def test_child_is_an_unprivileged_uid_without_capabilities(probe_run):
    planted, _, out = probe_run
    expected = SandboxSettings().uid if os.geteuid() == 0 else os.geteuid()
    _assert_contained(planted, out, expected)


def test_probe_contained_with_the_worker_as_an_unprivileged_user(harness_dir, tmp_path):
    """The same probe with the supervisor running as `nobody`: bwrap then builds the
    sandbox in a user namespace, and the child is the worker's own (unprivileged) uid."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user")
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        pytest.skip("util-linux unshare/setpriv missing")
    nobody = 65534
    root = Path(tempfile.mkdtemp(prefix="loopy-sealed-", dir="/tmp"))
    try:
        root.chmod(0o755)
        planted = Planted(root, harness_dir)
        for path in [root, *root.rglob("*")]:
            if path != planted.shadow and not path.is_socket():
                os.chown(path, nobody, nobody)
        out = planted.data_dir / "cache" / "work" / "1" / "run-probe"
        config = dict(
            harness_dir=str(planted.harness),
            train_source=planted.source(),
            budget_s=1.0,
            out_dir=str(out),
            threads=1,
            startup_allowance_s=60.0,
            memory_limit_mb=4096,
        )
        script = root / "as_nobody.py"
        script.write_text(
            "import json, sys\n"
            "from trainer.runner import RunConfig, run\n"
            f"r = run(RunConfig(**json.loads({json.dumps(json.dumps(config))})))\n"
            "print('RESULT=' + r.to_json())\n"
        )
        # a private mount namespace where the interpreter (under /root) and this checkout
        # (maybe under a 0700 mktemp folder) are reachable for `nobody`
        code_root = Path(trainer.__file__).resolve().parent.parent
        mounts = _reachable_mounts([Path(sys.base_prefix).resolve(), code_root], keep_in=root)
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(code_root),
            "HOME": str(root),
        }
        command = (
            f"{mounts}exec setpriv --reuid={nobody} --regid={nobody} --clear-groups "
            f"{sys.executable} {script}"
        )
        done = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", command],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        planted.close()
        assert done.returncode == 0, done.stderr[-3000:]
        line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT="))
        result = json.loads(line[len("RESULT=") :])
        assert result["sandbox"]["sandbox"] == "bubblewrap", result
        assert result["sandbox"]["uid"] == nobody
        _assert_contained(planted, out, nobody, worker_uid=nobody)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- attacks that need a run of their own -------------------------------------------


def _config(harness_dir: Path, out: Path, source: str, **overrides) -> RunConfig:
    settings = dict(
        harness_dir=str(harness_dir),
        train_source=source,
        budget_s=1.0,
        out_dir=str(out),
        threads=1,
        startup_allowance_s=60.0,
        grace_s=2.0,
        memory_limit_mb=4096,
    )
    settings.update(overrides)
    return RunConfig(**settings)


SAVE_THEN = """
import os, torch

def build_model(config):
    return torch.nn.Linear(2, 2)

def train(ctx):
    ctx.report(0, loss=1.0)
    ctx.save(build_model({{}}), {{}})
    os.unlink("checkpoint.pt")
{action}
"""


@pytest.mark.parametrize(
    "action, says",
    [
        ('    os.symlink("/etc/passwd", "checkpoint.pt")', "symbolic link"),
        ('    os.symlink("{secret}", "checkpoint.pt")', "symbolic link"),
        ('    os.mkfifo("checkpoint.pt")', "not a regular file"),
        ('    os.mkdir("checkpoint.pt")', "not a regular file"),
    ],
)
def test_checkpoint_that_is_not_a_regular_file_is_refused(harness_dir, tmp_path, action, says):
    secret = tmp_path / "secret.txt"
    marker = uuid.uuid4().hex
    secret.write_text(marker)
    source = SAVE_THEN.format(action=action.format(secret=secret))
    out = tmp_path / "out"
    result = run(_config(harness_dir, out, source))
    assert result.failure_reason == "SANDBOX_VIOLATION", result.failure_message
    assert says in result.failure_message and says in result.sandbox["refused"]
    assert result.checkpoint_path is None and not (out / "checkpoint.pt").exists()
    assert all(marker.encode() not in data for data in _outputs(out).values())


def test_oversized_checkpoint_is_refused(harness_dir, tmp_path):
    source = SAVE_THEN.format(action='    open("checkpoint.pt", "wb").write(b"x" * (3 << 20))')
    result = run(_config(harness_dir, tmp_path / "out", source, max_checkpoint_mb=2))
    assert result.failure_reason == "SANDBOX_VIOLATION", result.failure_message
    assert "cap" in result.failure_message
    assert not (tmp_path / "out" / "checkpoint.pt").exists()


LITTER = """
import os, subprocess, sys, time

MARK = {mark!r}

def build_model(config):
    pass

def train(ctx):
    ctx.report(0, loss=1.0)
    for folder in (".", "/tmp", "/dev/shm"):
        with open(os.path.join(folder, MARK + ".bin"), "wb") as f:
            f.write(b"x" * (40 << 20))
    # a double-forked daemon that would outlive the run and keep a file open
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c",
                "import time\\nwhile True: time.sleep(1)", MARK])
        os._exit(0)
    time.sleep(0.5)
    print("LITTERED")
"""


def _processes_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                continue
    return found


def test_files_and_processes_left_behind_vanish_with_the_run(harness_dir, tmp_path):
    mark = "litter-" + uuid.uuid4().hex
    t0 = time.monotonic()
    result = run(_config(harness_dir, tmp_path / "out", LITTER.format(mark=mark)))
    elapsed = time.monotonic() - t0
    assert "LITTERED" in Path(result.log_path).read_text()
    assert result.failure_reason == "CONTRACT"  # it never saved; but it littered first
    assert _processes_with(mark) == []
    assert elapsed < 60  # the daemon did not hold the run up
    for folder in (Path("/tmp"), Path("/dev/shm"), tmp_path):
        assert not [p for p in folder.rglob(f"{mark}*")], folder
    assert not list(Path("/dev/shm").glob(f"loopy-exchange-{os.getpid()}-*"))  # ours, gone
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) < 20 << 20


VANDAL = """
import glob, os, time
import numpy as np

def build_model(config):
    pass

def train(ctx):
    ctx.report(0, loss=1.0)
    hits = []
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:  # a concurrent run's logits, wherever they are
        for path in glob.glob("/dev/shm/**", recursive=True) + glob.glob("/tmp/**", recursive=True):
            if path.endswith(".f32") or "logits" in path:
                try:
                    with open(path, "r+b") as f:
                        f.write(np.full(1024, np.nan, np.float32).tobytes())
                    hits.append(path)
                except OSError:
                    pass
        time.sleep(0.05)
    print("HITS", hits)
"""


def test_exchange_folders_of_a_dead_supervisor_are_swept(harness_dir, bigram, tmp_path):
    """A supervisor killed mid-run cannot remove its evaluation buffers: the next one does."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = Path("/dev/shm") / f"loopy-exchange-{dead.pid}-stale"
    stale.mkdir()
    (stale / "logits.f32").write_bytes(b"x" * 4096)
    result = run(_config(harness_dir, tmp_path / "out", bigram))
    assert result.state == "SUCCEEDED", result.failure_message
    assert not stale.exists()


def test_concurrent_victim_run_is_untouched(harness_dir, bigram, tmp_path):
    reference = run(_config(harness_dir, tmp_path / "reference", bigram))
    assert reference.state == "SUCCEEDED", reference.failure_message
    results = {}

    def go(name: str, source: str, **overrides) -> None:
        results[name] = run(_config(harness_dir, tmp_path / name, source, **overrides))

    # the vandal looks for 8 s after its first report, which starts its budget's clock
    vandal = threading.Thread(target=go, args=("vandal", VANDAL), kwargs={"budget_s": 10.0})
    vandal.start()
    time.sleep(2.0)  # the vandal is looking while the victim trains and evaluates
    go("victim", bigram)
    vandal.join()
    victim = results["victim"]
    assert victim.state == "SUCCEEDED", victim.failure_message
    assert victim.val_bpb == pytest.approx(reference.val_bpb, rel=1e-6)
    assert "HITS []" in Path(results["vandal"].log_path).read_text()


def _reachable_mounts(paths: list[Path], keep_in: Path) -> str:
    """Shell mounts that make each path reachable for any user: bind it aside, cover its
    highest ancestor that others cannot enter with an open tmpfs, and move it back."""
    binds: list[tuple[Path, Path]] = []
    tops: list[Path] = []
    for index, path in enumerate(dict.fromkeys(paths)):
        hidden = [
            p for p in (path, *path.parents) if p != Path("/") and not p.stat().st_mode & 0o001
        ]
        if hidden:
            keep = keep_in / f"keep{index}"
            keep.mkdir()
            binds.append((path, keep))
            tops.append(hidden[-1])
    # a tmpfs over an ancestor already covers whatever lies below it
    tops = [t for t in dict.fromkeys(tops) if not any(o in t.parents for o in tops)]
    return (
        "".join(f"mount --bind {path} {keep} && " for path, keep in binds)
        + "".join(f"mount -t tmpfs -o mode=755 tmpfs {top} && " for top in tops)
        + "".join(f"mkdir -p {path} && mount --move {keep} {path} && " for path, keep in binds)
    )
