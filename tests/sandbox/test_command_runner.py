"""The in-container command runner (session mode), on real Docker: same results as `docker exec`, and out of the agent's reach.

Every attack runs as an agent command would (`box.execute`), and each is followed
by a command the runner serves, to show it is still there and unharmed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator

import docker
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from sandbox.containers.container_spec import LABEL_RUNNER, sandbox_environment
from sandbox.containers.runner_socket import connect_unix
from sandbox.containers.runner_spec import RUNNER_MOUNT, RUNNER_SCRIPT_MOUNT, SOCKET_NAME, runner_secret, runners_root
from sandbox.previews.folders import PREVIEWS_MOUNT
from sandbox.runs.live_output import streaming_to

pytestmark = pytest.mark.docker

RUNNER_PIDS = "ps -eo pid=,user=,args= | awk '$2 == \"root\" && /sandbox-runner.py/ {print $1}'"
"""The runner's pid inside the container, from a command (only root's processes, so not this one)."""


@pytest.fixture
def box(session_deployment: SandboxDeployment) -> DockerSandbox:
    box = DockerSandbox("runner", session_deployment)
    assert box.execute("true").exit_code == 0  # starts the container, and with it the runner
    assert _wait_for_runner(session_deployment, _container(box))
    return box


def _container(box: DockerSandbox) -> str:
    with box.deployment.session_container(box.thread()) as container_id:
        return container_id


def _wait_for_runner(deployment: SandboxDeployment, container_id: str, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if deployment.runners.ping(deployment.api, container_id):
            return True
        time.sleep(0.05)
    return False


class _Served:
    """Counts what the runner served and what fell back to `docker exec` during a block."""

    def __init__(self, deployment: SandboxDeployment) -> None:
        self.runners = deployment.runners
        self.served = self.runners.served
        self.fell_back = self.runners.fell_back

    @property
    def by_runner(self) -> int:
        return self.runners.served - self.served

    @property
    def by_exec(self) -> int:
        return self.runners.fell_back - self.fell_back


def _runner_pid(box: DockerSandbox) -> int:
    return int(box.execute(RUNNER_PIDS).output.split()[0])


def _assert_runner_serves(box: DockerSandbox) -> None:
    served = _Served(box.deployment)
    assert box.execute("echo still-served").output == "still-served\n"
    assert (served.by_runner, served.by_exec) == (1, 0)


# -- same behaviour as docker exec ------------------------------------------------------


def test_exit_codes_output_and_closed_stdin_match_docker_exec(box: DockerSandbox, settings: SandboxSettings) -> None:
    served = _Served(box.deployment)
    assert box.execute("exit 3").exit_code == 3
    assert box.execute("kill -9 $$").exit_code == 137
    both = box.execute("echo out; echo err >&2; exit 1")
    assert (both.output, both.exit_code) == ("out\nerr\n", 1)
    stdin = box.execute("cat; echo after-cat", timeout=10)  # stdin is closed, as with docker exec: cat returns at once
    assert (stdin.output, stdin.exit_code) == ("after-cat\n", 0)
    who = box.execute("id -u; id -g; id -G; pwd; echo $HOME; grep -E '^(CapEff|CapPrm|NoNewPrivs)' /proc/self/status")
    lines = who.output.split("\n")
    assert lines[:5] == [str(settings.uid), str(settings.gid), str(settings.gid), "/workspace", "/tmp"]
    assert who.output.count("0000000000000000") == 2
    assert who.output.split("NoNewPrivs:")[1].split()[0] == "1"
    assert served.by_runner == 5
    assert served.by_exec == 0


def test_the_environment_is_the_one_docker_exec_gives(box: DockerSandbox, session_deployment: SandboxDeployment) -> None:
    via_runner = box.execute("env | sort").output
    container_id = _container(box)
    api = session_deployment.api
    exec_id = api.exec_create(
        container_id,
        ["sh", "-c", "env | sort"],
        user=f"{session_deployment.settings.uid}:{session_deployment.settings.gid}",
        workdir="/workspace",
        environment=sandbox_environment(),
    )
    via_exec = api.exec_start(exec_id["Id"]).decode()
    assert via_runner == via_exec
    assert "SANDBOX_RUNNER_SECRET" not in via_runner


def test_timeout_kills_the_command_and_the_runner_serves_the_next(box: DockerSandbox) -> None:
    served = _Served(box.deployment)
    started = time.monotonic()
    result = box.execute("echo begun; sleep 300", timeout=2)
    assert time.monotonic() - started < 10
    assert result.exit_code == 124
    assert result.output.startswith("begun\n")
    assert "timed out after 2s" in result.output
    assert served.by_runner == 1
    _assert_runner_serves(box)


def test_output_is_capped(box: DockerSandbox, settings: SandboxSettings) -> None:
    served = _Served(box.deployment)
    result = box.execute("head -c 60000000 /dev/zero | tr '\\0' x")
    assert result.truncated is True
    assert result.output.startswith("xxxx")
    assert len(result.output.encode()) < settings.max_output_bytes + 1024
    assert served.by_runner == 1
    _assert_runner_serves(box)


def test_output_streams_live_in_chunks(box: DockerSandbox) -> None:
    served = _Served(box.deployment)
    chunks: list[tuple[float, str]] = []
    started = time.monotonic()
    with streaming_to(lambda text: chunks.append((time.monotonic(), text))):
        result = box.execute("for i in 1 2 3; do echo line $i; sleep 1; done")
    assert result.output == "line 1\nline 2\nline 3\n"
    assert "".join(text for _, text in chunks) == result.output
    first = next(at for at, text in chunks if "line 1" in text)
    assert first - started < 1.0, chunks
    assert len(chunks) >= 3
    assert served.by_runner == 1


def test_a_command_runs_under_timeout_alone_the_runner_caps_its_output(box: DockerSandbox) -> None:
    """The sh wrapper's pipeline (subshells, `stdbuf`, `head -c`) is five processes around every command: the runner caps output itself."""
    served = _Served(box.deployment)
    result = box.execute("ps -o comm= -A")
    running = result.output.split()
    assert "timeout" in running
    assert "head" not in running, running
    assert "stdbuf" not in running, running
    assert served.by_runner == 1


def test_switched_off_every_command_is_a_docker_exec(settings: SandboxSettings, docker_api: docker.APIClient) -> None:
    deployment = SandboxDeployment(settings.with_overrides(mode="session", command_runner=False))
    try:
        box = DockerSandbox("no-runner", deployment)
        assert box.execute("echo hi").output == "hi\n"
        container_id = _container(box)
        config = docker_api.inspect_container(container_id)
        assert config["HostConfig"]["CapAdd"] in (None, [])
        assert config["Config"]["User"] == f"{settings.uid}:{settings.gid}"
        assert not any(mount["Destination"].startswith(RUNNER_MOUNT) for mount in config["Mounts"])
        assert (deployment.runners.served, deployment.runners.fell_back) == (0, 0)
    finally:
        deployment.close(remove_sessions=True)


# -- what an agent's command cannot do to it ------------------------------------------


def test_a_command_cannot_reach_the_runners_socket(box: DockerSandbox) -> None:
    script = (
        "import socket\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        f"    s.connect('{RUNNER_MOUNT}/{SOCKET_NAME}')\n"
        "    print('CONNECTED')\n"
        "except OSError as e:\n"
        "    print('refused', e.errno)\n"
    )
    result = box.execute(f'python3 -c "{script}"; ls {RUNNER_MOUNT} 2>&1')
    assert "CONNECTED" not in result.output
    assert "refused 13" in result.output  # EACCES: the folder is root's, 0700
    assert "Permission denied" in result.output
    _assert_runner_serves(box)


def test_the_runner_serves_nobody_inside_the_container_even_with_the_secret(
    box: DockerSandbox, session_deployment: SandboxDeployment
) -> None:
    """Were the folder reachable (a server that is not root), a process in the container still gets nothing."""
    container_id = _container(box)
    secret = runner_secret(session_deployment.settings, container_id)
    request = json.dumps({"secret": secret, "argv": ["sh", "-c", "echo DRIVEN"]})
    script = (
        "import socket, struct, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        f"s.connect('{RUNNER_MOUNT}/{SOCKET_NAME}')\n"
        f"body = {request!r}.encode()\n"
        "try:\n"
        "    s.sendall(struct.pack('!I', len(body)) + body)\n"
        "    print('ANSWER', s.recv(100))\n"
        "except OSError as e:\n"
        "    print('HUNG UP', e)\n"
    )
    api = session_deployment.api
    exec_id = api.exec_create(container_id, ["python3", "-c", script], user="0:0")  # root, and the secret: an operator's shell
    output = api.exec_start(exec_id["Id"]).decode()
    assert "ANSWER b''" in output or "HUNG UP" in output, output  # not a word back
    assert "DRIVEN" not in output
    _assert_runner_serves(box)


def test_a_command_cannot_signal_the_runner(box: DockerSandbox) -> None:
    pid = _runner_pid(box)
    result = box.execute(f"kill -9 {pid}; echo kill=$?; kill -STOP {pid}; echo stop=$?")
    assert "kill=1" in result.output
    assert "stop=1" in result.output
    assert "Operation not permitted" in result.output
    assert _runner_pid(box) == pid
    _assert_runner_serves(box)


def test_a_command_cannot_trace_or_read_the_runner(box: DockerSandbox, session_deployment: SandboxDeployment) -> None:
    pid = _runner_pid(box)
    script = (
        "import ctypes, os, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"pid = {pid}\n"
        "print('attach', libc.ptrace(16, pid, None, None), ctypes.get_errno())\n"  # PTRACE_ATTACH
        "print('seize', libc.ptrace(0x4206, pid, None, None), ctypes.get_errno())\n"  # PTRACE_SEIZE
        "for name in ('mem', 'environ', 'fd/0', 'maps'):\n"
        "    try:\n"
        "        with open(f'/proc/{pid}/' + name, 'rb') as f:\n"
        "            print(name, 'READ', f.read(4096))\n"
        "    except OSError as e:\n"
        "        print(name, 'denied', e.errno)\n"
        "try:\n"
        "    print('fds', os.listdir(f'/proc/{pid}/fd'))\n"
        "except OSError as e:\n"
        "    print('fds denied', e.errno)\n"
    )
    result = box.execute(f'python3 -c "{script}"; env')
    assert "attach -1 1" in result.output  # EPERM
    assert "seize -1 1" in result.output
    for name in ("mem", "environ", "fd/0", "maps", "fds"):
        assert f"{name} denied" in result.output, result.output
    assert "READ" not in result.output
    secret = runner_secret(session_deployment.settings, _container(box))
    assert secret not in result.output
    assert "SANDBOX_RUNNER_SECRET" not in result.output
    _assert_runner_serves(box)


def test_a_command_cannot_read_another_commands_output(box: DockerSandbox) -> None:
    """A long command's output passes through the runner; a second command cannot get at it there."""
    results: dict[str, str] = {}

    def victim() -> None:
        results["victim"] = box.execute("for i in 1 2 3 4 5 6; do echo VICTIM-SECRET-$i; sleep 0.5; done").output

    thread = threading.Thread(target=victim)
    thread.start()
    time.sleep(1.0)
    pid = _runner_pid(box)
    snoop = (
        f"for fd in /proc/{pid}/fd/*; do timeout 1 cat $fd; done 2>&1; "
        f"timeout 1 cat {RUNNER_MOUNT}/* 2>&1; "
        f"python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.connect('{RUNNER_MOUNT}/{SOCKET_NAME}')\" 2>&1 | tail -1"
    )
    spy = box.execute(snoop).output
    thread.join()
    assert results["victim"].count("VICTIM-SECRET") == 6
    assert "VICTIM-SECRET" not in spy
    assert "Permission denied" in spy
    _assert_runner_serves(box)


def test_an_impostor_socket_never_gets_the_secret(box: DockerSandbox, session_deployment: SandboxDeployment) -> None:
    """If the folder were the sandbox user's (a server that is not root), a command could put its own socket there:
    the server sees it is not root's, sends it nothing and runs the command through docker exec."""
    container_id = _container(box)
    api = session_deployment.api
    chmod = api.exec_create(container_id, ["chmod", "0777", RUNNER_MOUNT], user="0:0")
    api.exec_start(chmod["Id"])
    impostor = (
        "import os, socket, threading\n"
        f"path = '{RUNNER_MOUNT}/{SOCKET_NAME}'\n"
        "os.unlink(path)\n"
        "s = socket.socket(socket.AF_UNIX); s.bind(path); os.chmod(path, 0o666); s.listen(5)\n"
        "print('LISTENING', flush=True)\n"
        "c, _ = s.accept(); c.settimeout(3)\n"
        "try:\n"
        "    print('GOT', c.recv(65536), flush=True)\n"
        "except OSError as e:\n"
        "    print('GOT nothing', e, flush=True)\n"
    )
    received: list[str] = []
    spy = threading.Thread(target=lambda: received.append(box.execute(f'python3 -c "{impostor}"', timeout=20).output))
    spy.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until the impostor's socket is in place
        probe = box.execute(f"test -O {RUNNER_MOUNT}/{SOCKET_NAME} && echo MINE")
        if "MINE" in probe.output:
            break
        time.sleep(0.1)
    served = _Served(session_deployment)
    assert box.execute("echo via-exec").output == "via-exec\n"
    assert served.by_exec >= 1
    spy.join()
    secret = runner_secret(session_deployment.settings, container_id)
    assert secret not in received[0]
    assert "GOT b''" in received[0] or "GOT nothing" in received[0], received


def test_a_killed_runner_falls_back_to_docker_exec_and_comes_back(box: DockerSandbox, docker_api: docker.APIClient) -> None:
    container_id = _container(box)
    top = docker_api.top(container_id)
    command_at = top["Titles"].index("CMD")
    pid_at = top["Titles"].index("PID")
    runner = next(int(row[pid_at]) for row in top["Processes"] if "sandbox-runner.py" in row[command_at])
    os.kill(runner, signal.SIGKILL)  # the host's root, as the OOM killer or an operator would
    served = _Served(box.deployment)
    assert box.execute("echo after-kill").output == "after-kill\n"
    assert (served.by_runner, served.by_exec) == (0, 1)
    assert _wait_for_runner(box.deployment, container_id)
    _assert_runner_serves(box)


def test_a_runner_that_does_not_answer_is_replaced(box: DockerSandbox, docker_api: docker.APIClient) -> None:
    container_id = _container(box)
    top = docker_api.top(container_id)
    command_at, pid_at = top["Titles"].index("CMD"), top["Titles"].index("PID")
    runner = next(int(row[pid_at]) for row in top["Processes"] if "sandbox-runner.py" in row[command_at])
    os.kill(runner, signal.SIGSTOP)
    try:
        served = _Served(box.deployment)
        started = time.monotonic()
        assert box.execute("echo while-stuck").output == "while-stuck\n"
        assert time.monotonic() - started < 10  # the handshake gave up, docker exec ran it
        assert served.by_exec == 1
        assert _wait_for_runner(box.deployment, container_id)
        _assert_runner_serves(box)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(runner, signal.SIGKILL)


def test_a_container_removed_while_its_runner_starts_is_no_failure(
    box: DockerSandbox, docker_api: docker.APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A thread deleted (or its container stopped) right after its container started: the runner's start finds it gone.

    That is not a runner failing to come up, and the log must not say so.
    """
    container_id = _container(box)
    top = docker_api.top(container_id)
    command_at, pid_at = top["Titles"].index("CMD"), top["Titles"].index("PID")
    runner = next(int(row[pid_at]) for row in top["Processes"] if "sandbox-runner.py" in row[command_at])
    os.kill(runner, signal.SIGSTOP)  # the new start waits for an answer that never comes
    caplog.set_level("DEBUG", logger="sandbox.containers.runner_socket")
    box.deployment.runners.container_started(box.deployment.api, container_id)
    time.sleep(0.5)
    docker_api.remove_container(container_id, force=True)
    deadline = time.monotonic() + 15
    while any(thread.name == "sandbox-runner-start" for thread in threading.enumerate()):
        assert time.monotonic() < deadline, "the runner's start never gave up"
        time.sleep(0.05)
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == []
    assert any("stopped before its command runner came up" in record.getMessage() for record in caplog.records)


def test_session_hardening_holds_with_the_runner(box: DockerSandbox, settings: SandboxSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVER_ONLY_SECRET", "s3cr3t-value-42")
    result = box.execute("env; cat /proc/1/environ /proc/self/environ 2>/dev/null | tr '\\0' '\\n'; cat /proc/mounts")
    assert "s3cr3t-value-42" not in result.output
    mounts = {line.split()[1] for line in result.output.splitlines() if line.startswith("/dev/")}
    assert mounts <= {
        "/workspace",
        "/shared",
        "/memories",
        "/artifacts",
        PREVIEWS_MOUNT,
        RUNNER_MOUNT,
        RUNNER_SCRIPT_MOUNT,
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/usr/sbin/docker-init",
        "/sbin/docker-init",
    }
    assert box.execute("touch /run/sandbox-runner.py /run/x 2>&1").exit_code != 0


# -- the channel's own input ------------------------------------------------------------


@pytest.fixture
def runner_socket(box: DockerSandbox, session_deployment: SandboxDeployment) -> Iterator[tuple[str, str]]:
    container_id = _container(box)
    target = session_deployment.runners._target(session_deployment.api, container_id)  # the path and secret the server itself uses
    assert target is not None
    yield target.socket_path, target.secret
    _assert_runner_serves(box)


def _send_raw(path: str, payload: bytes) -> bytes:
    conn = socket.socket(socket.AF_UNIX)
    conn.settimeout(10)
    try:
        connect_unix(conn, path)  # pytest's tmp paths are longer than a socket address holds
        answer = b""
        try:
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)
            while chunk := conn.recv(65536):
                answer += chunk
        except (BrokenPipeError, ConnectionResetError):  # the runner hung up before reading it all
            pass
        return answer
    finally:
        conn.close()


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda secret, argv, extra: json.dumps({"secret": secret, "argv": argv, **extra}).encode(),
            st.text(max_size=70),
            st.one_of(st.none(), st.integers(), st.lists(st.one_of(st.text(max_size=20), st.integers()), max_size=4)),
            st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.booleans(), st.text(max_size=8)), max_size=2),
        ),
    ),
    framed=st.booleans(),
)
def test_any_request_without_the_secret_gets_no_answer_and_the_runner_lives(
    runner_socket: tuple[str, str], body: bytes, framed: bool
) -> None:
    path, _secret = runner_socket
    payload = struct.pack("!I", len(body)) + body if framed else body
    assert _send_raw(path, payload) == b""


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    argv=st.one_of(
        st.none(),
        st.integers(),
        st.just([]),
        st.lists(st.one_of(st.text(max_size=10), st.integers()), min_size=1, max_size=3).map(lambda args: ["/no/such/program", *args]),
        st.lists(st.text(max_size=10), max_size=3).map(lambda args: ["/no/such/program", *args]),
    )
)
def test_any_argv_with_the_secret_is_run_or_refused_in_words(runner_socket: tuple[str, str], argv: object) -> None:
    path, secret = runner_socket
    body = json.dumps({"secret": secret, "argv": argv}).encode()
    answer = _send_raw(path, struct.pack("!I", len(body)) + body)
    kind = answer[:1]
    assert kind in (b"S", b"F"), answer[:100]
    if kind == b"S":
        assert b"X" in answer  # it ran and exited, whatever it was


def _frames(answer: bytes) -> list[tuple[bytes, bytes]]:
    frames, at = [], 0
    while at < len(answer):
        kind, length = struct.unpack("!cI", answer[at : at + 5])
        frames.append((kind, answer[at + 5 : at + 5 + length]))
        at += 5 + length
    return frames


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    capped=st.one_of(st.none(), st.integers(), st.just([]), st.lists(st.one_of(st.text(max_size=10), st.integers()), max_size=3)),
    cap=st.one_of(st.none(), st.booleans(), st.integers(min_value=-5, max_value=50), st.text(max_size=5)),
)
def test_any_capped_request_runs_within_its_cap_or_falls_back_to_argv(runner_socket: tuple[str, str], capped: object, cap: object) -> None:
    """A capped request the runner cannot use runs `argv` as before; one it can use never sends more than `cap` bytes."""
    path, secret = runner_socket
    printing = ["sh", "-c", "yes 0123456789 | head -c 300; echo err >&2"]
    usable = isinstance(capped, list) and bool(capped) and all(isinstance(a, str) for a in capped)
    usable = usable and isinstance(cap, int) and not isinstance(cap, bool) and cap > 0
    body = json.dumps({"secret": secret, "argv": printing, "capped_argv": printing if usable else capped, "cap": cap}).encode()
    frames = _frames(_send_raw(path, struct.pack("!I", len(body)) + body))
    assert frames[0][0] == b"S", frames[:3]
    assert frames[-1][0] == b"X", frames[-3:]
    stdout = b"".join(payload for kind, payload in frames if kind == b"O")
    stderr = b"".join(payload for kind, payload in frames if kind == b"E")
    if usable:
        assert isinstance(cap, int)
        assert stdout == (b"0123456789\n" * 30 + b"err\n")[:cap]  # stderr merged in, the cap applied
        assert stderr == b""
    else:
        assert (len(stdout), stderr) == (300, b"err\n")


def test_a_removed_containers_runner_folder_is_swept_and_a_live_ones_kept(
    session_deployment: SandboxDeployment, docker_api: docker.APIClient
) -> None:
    live = DockerSandbox("runner-live", session_deployment)
    gone = DockerSandbox("runner-gone", session_deployment)
    assert live.execute("true").exit_code == 0
    assert gone.execute("true").exit_code == 0
    folders = {}
    for box in (live, gone):
        labels = docker_api.inspect_container(_container(box))["Config"]["Labels"]
        folders[box.thread_id] = runners_root(session_deployment.settings) / labels[LABEL_RUNNER]
        assert (folders[box.thread_id] / SOCKET_NAME).exists() or _wait_for_runner(session_deployment, _container(box))
    docker_api.remove_container(_container(gone), force=True)
    assert session_deployment.runners.sweep_folders(docker_api, grace_seconds=0) == [folders["runner-gone"].name]
    assert not folders["runner-gone"].exists()
    assert folders["runner-live"].is_dir()
    assert live.execute("echo kept").output == "kept\n"
