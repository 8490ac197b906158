"""The README's first command, `bash scripts/start.sh`, takes a fresh clone to a working agent.

The script runs in a copy of this checkout made the way a clone has it (no
`.venv`, no `.env`), so it must set everything up itself; the checkout's own
`.env` is never created or read. The model is the scripted LLM, the sandbox
image and host folders are the e2e suite's.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import docker
import httpx
import pytest

from tests.support.agent_client import approve, resume, sdk_client, stream_run, user_input
from tests.support.langgraph_server import E2EPaths, LangGraphServer, checkout_env, clone_checkout, run_start_script
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say
from tests.support.tiny_registry import TinyRegistry

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

TURN_PROMPT = "start-script: say hello from the sandbox"
TURN_COMMAND = "echo hello from the sandbox; id -u"
SETUP_SECONDS = re.compile(r"\[start (\d+)s\] ready: starting langgraph dev")
DEFAULT_IMAGE = "python:3.13-slim"
OFFLINE_IMAGE = "deepagents-sandbox:offline"


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of this checkout: no `.venv`, no `.env`."""
    path = clone_checkout(tmp_path_factory.mktemp("clone"))
    assert not (path / ".venv").exists()
    assert not (path / ".env").exists()
    return path


@pytest.fixture(scope="module")
def script_env(scripted_llm: ScriptedLLM, e2e_paths: E2EPaths, sandbox_image: str) -> dict[str, str]:
    return {
        "ZHIPUAI_API_KEY": "e2e-test-key",
        "ZHIPUAI_API_BASE": scripted_llm.base_url,
        "LLM_THINKING": "false",
        "SANDBOX_IMAGE": sandbox_image,
        "SANDBOX_WORKSPACES_DIR": str(e2e_paths.workspaces),
        "SANDBOX_SHARED_DIR": str(e2e_paths.shared),
    }


@pytest.fixture(scope="module")
def first_start(clone: Path, script_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LangGraphServer]:
    """The server as `bash scripts/start.sh` first starts it in the fresh clone."""
    with run_start_script(checkout=clone, workdir=tmp_path_factory.mktemp("first-start"), env=script_env) as server:
        yield server


def image_id(image: str) -> str:
    engine = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
    try:
        return str(engine.inspect_image(image)["Id"])
    finally:
        engine.close()


def image_present(image: str) -> bool:
    try:
        image_id(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def script_report(server: LangGraphServer) -> str:
    """What scripts/start.sh printed before it handed over to `langgraph dev`."""
    text = server.log_path.read_text(encoding="utf-8", errors="replace")
    report, handover, _ = text.partition("ready: starting langgraph dev")
    return report + handover


def run_setup(clone: Path, steps: str, env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Source scripts/setup.sh in `clone` and run `steps` there (as start.sh does)."""
    script = f"set -euo pipefail\nsource scripts/setup.sh\n{steps}\n"
    return subprocess.run(
        ["bash", "-c", script], cwd=clone, env=checkout_env(env), capture_output=True, text=True, timeout=timeout, check=False
    )


async def test_first_start_sets_up_a_fresh_clone_and_serves_an_agent_turn(
    first_start: LangGraphServer, clone: Path, scripted_llm: ScriptedLLM, sandbox_image: str
) -> None:
    report = script_report(first_start)
    assert "python packages: in sync with uv.lock" in report, report
    assert ".env: created from .env.example" in report, report
    assert "NOTE: ZHIPUAI_API_KEY" not in report, "the key is set in the environment"
    assert f"sandbox image {sandbox_image} (SANDBOX_IMAGE): present" in report, report
    assert f"sandboxes use SANDBOX_IMAGE={sandbox_image} ({image_id(sandbox_image)})" in report, report
    assert (clone / ".venv" / "bin" / "langgraph").is_file(), "the script syncs the clone's own environment"
    assert (clone / ".env").read_text(encoding="utf-8") == (clone / ".env.example").read_text(encoding="utf-8")
    assert f"Sandboxes use image {sandbox_image} (SANDBOX_IMAGE)" in first_start.log_tail(400), first_start.log_tail()

    scripted_llm.add_scenario(TURN_PROMPT, call("execute", command=TURN_COMMAND), say(echo_last_tool_output("sandbox said: ")))
    async with sdk_client(first_start.url) as client:
        thread_id = (await client.threads.create())["thread_id"]
        paused = await stream_run(client, thread_id, input=user_input(TURN_PROMPT))
        assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
        done = await stream_run(client, thread_id, command=resume(approve()))
    assert not done.errors, done.describe()
    assert "sandbox said: hello from the sandbox" in done.final_ai_text, done.describe()
    assert "\n65534" in done.final_ai_text, "the command ran in the sandbox as nobody, not on the host as root"


CLIENT_LINE = re.compile(r"^Web client: (\S+) \((.*)\)$")


def client_line(server: LangGraphServer, timeout: float = 60.0) -> re.Match[str]:
    """The start command's line naming the web client, once printed; it comes after the server's own banner."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line.strip() for line in server.log_path.read_text(encoding="utf-8", errors="replace").splitlines()]
        found = [(index, CLIENT_LINE.match(line)) for index, line in enumerate(lines) if CLIENT_LINE.match(line)]
        if found:
            index, match = found[-1]
            banner = [i for i, line in enumerate(lines) if "API:" in line and "http" in line]
            assert banner, server.log_tail()
            assert index > banner[-1], f"the line came before the server's banner:\n{server.log_tail()}"
            assert match is not None
            return match
        if time.monotonic() > deadline:
            pytest.fail(f"no 'Web client:' line within {timeout:.0f}s:\n{server.log_tail()}")
        time.sleep(0.5)


def test_the_last_line_names_the_web_client(first_start: LangGraphServer) -> None:
    line = client_line(first_start)
    assert line.group(1) == f"{first_start.url}/app/"
    assert line.group(2) == "single-user mode, no sign-in"
    with httpx.Client() as http:
        page = http.get(line.group(1))
    assert page.status_code == 200
    assert '<div id="app">' in page.text


def test_second_start_reuses_everything(
    first_start: LangGraphServer, clone: Path, script_env: dict[str, str], sandbox_image: str, tmp_path: Path
) -> None:
    image_before = image_id(sandbox_image)
    first_start.stop()  # one server per clone at a time: they share its .langgraph_api

    started = time.monotonic()
    with run_start_script(checkout=clone, workdir=tmp_path / "second-start", env=script_env) as server:
        seconds_to_ready = time.monotonic() - started
        report = script_report(server)
        assert f"Sandboxes use image {sandbox_image} (SANDBOX_IMAGE)" in server.log_tail(400), server.log_tail()
    print(f"second start: /info after {seconds_to_ready:.1f}s; script report:\n{report}")

    assert ".env: present" in report, report
    assert f"sandbox image {sandbox_image} (SANDBOX_IMAGE): present" in report, report
    for action in ("created", "installing", "building", "pulled", "starting dockerd"):
        assert action not in report, f"second start did {action!r}:\n{report}"
    assert image_id(sandbox_image) == image_before, "the image was rebuilt"
    assert f"sandboxes use SANDBOX_IMAGE={sandbox_image} ({image_before})" in report, report
    setup = SETUP_SECONDS.search(report)
    assert setup, report
    assert int(setup.group(1)) <= 60, f"set-up took {setup.group(1)}s on a second start:\n{report}"


def test_without_sandbox_image_the_script_chooses_a_local_image(
    first_start: LangGraphServer, clone: Path, script_env: dict[str, str]
) -> None:
    # The clone's .env (from .env.example) leaves SANDBOX_IMAGE empty, like the environment here.
    expected = DEFAULT_IMAGE if image_present(DEFAULT_IMAGE) else OFFLINE_IMAGE
    if not image_present(expected):
        pytest.skip(f"neither {DEFAULT_IMAGE} nor {OFFLINE_IMAGE} is local: choosing would pull or build one")
    before = image_id(expected)
    env = {**script_env, "SANDBOX_IMAGE": ""}
    result = run_setup(clone, 'choose_sandbox_image\necho "exported: $SANDBOX_IMAGE"', env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"exported: {expected}", result
    assert f"sandbox image {expected}: present" in result.stderr, result.stderr
    assert "pull" not in result.stderr, "an image that is already local needs no registry"
    assert image_id(expected) == before


def test_an_explicit_image_is_pulled_when_a_registry_answers(first_start: LangGraphServer, clone: Path, script_env: dict[str, str]) -> None:
    with TinyRegistry() as registry:
        try:
            env = {**script_env, "SANDBOX_IMAGE": registry.image}
            result = run_setup(clone, 'choose_sandbox_image\necho "exported: $SANDBOX_IMAGE"', env)
            assert result.returncode == 0, result.stderr
            assert result.stdout.strip() == f"exported: {registry.image}", result
            assert f"sandbox image {registry.image} (SANDBOX_IMAGE): pulled" in result.stderr, result.stderr
            assert registry.manifest_requests >= 1
            assert image_present(registry.image)
        finally:
            subprocess.run(["docker", "rmi", "--force", registry.image], capture_output=True, check=False)


def test_a_registry_that_never_answers_costs_only_the_probe_time(
    first_start: LangGraphServer, clone: Path, script_env: dict[str, str]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # connections complete, but nobody ever answers
        image = f"127.0.0.1:{silent.getsockname()[1]}/never/answers:1"
        started = time.monotonic()
        result = run_setup(clone, "choose_sandbox_image", {**script_env, "SANDBOX_IMAGE": image})
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result
    assert "no registry answered within 10s" in result.stderr, result.stderr
    assert f"SANDBOX_IMAGE={image} is not a local image" in result.stderr, result.stderr
    assert "build-offline-image.sh" in result.stderr, "the error names the way out"
    assert elapsed < 45, f"the probe took {elapsed:.1f}s"


def test_a_missing_api_key_is_noted_and_a_set_one_is_not(first_start: LangGraphServer, clone: Path, script_env: dict[str, str]) -> None:
    # The clone's .env has the example's empty key; the environment decides.
    without_key = run_setup(clone, "ensure_env_file", {**script_env, "ZHIPUAI_API_KEY": ""})
    assert without_key.returncode == 0, without_key.stderr
    assert ".env: present" in without_key.stderr
    assert "NOTE: ZHIPUAI_API_KEY is not set" in without_key.stderr, without_key.stderr
    assert str(clone / ".env") in without_key.stderr, "the note says which file to edit"

    with_key = run_setup(clone, "ensure_env_file", script_env)
    assert with_key.returncode == 0, with_key.stderr
    assert "NOTE" not in with_key.stderr, with_key.stderr


NOBODY = 65534


@pytest.fixture
def scripts_for_nobody(clone: Path) -> Iterator[Path]:
    """scripts/setup.sh in a folder that uid 65534 may read (pytest's own tmp dir is root-only)."""
    root = Path(tempfile.mkdtemp(prefix="setup-as-nobody-"))
    try:
        root.chmod(0o755)
        (root / "scripts").mkdir(mode=0o755)
        shutil.copy2(clone / "scripts" / "setup.sh", root / "scripts" / "setup.sh")
        (root / "scripts" / "setup.sh").chmod(0o644)
        yield root
    finally:
        shutil.rmtree(root)


def run_as_nobody(root: Path, steps: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    script = f"set -euo pipefail\nsource scripts/setup.sh\n{steps}\n"
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "bash", "-c", script]
    child_env = {**checkout_env(env), "HOME": str(root)}
    return subprocess.run(command, cwd=root, env=child_env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(os.getuid() != 0, reason="switching to another user needs root")
def test_without_root_each_step_says_what_to_run(scripts_for_nobody: Path, script_env: dict[str, str]) -> None:
    docker_step = run_as_nobody(scripts_for_nobody, "ensure_docker", script_env)
    assert docker_step.returncode == 1, docker_step
    assert "sudo usermod -aG docker" in docker_step.stderr, docker_step.stderr

    env = {**script_env, "SANDBOX_IMAGE": "deepagents-sandbox:never-built"}
    image_step = run_as_nobody(scripts_for_nobody, "choose_sandbox_image", env)
    assert image_step.returncode == 1, image_step
    assert "sudo bash sandbox/image/build-offline-image.sh deepagents-sandbox:never-built" in image_step.stderr, image_step.stderr
    assert "pull" not in image_step.stderr, "the project's own offline image names are never looked up in a registry"


def test_with_auth_on_the_last_line_says_how_to_get_a_token(
    first_start: LangGraphServer, clone: Path, script_env: dict[str, str], tmp_path: Path
) -> None:
    first_start.stop()  # one server per clone at a time: they share its .langgraph_api
    env = {**script_env, "AUTH_JWT_SECRET": "start-script-secret-" + "x" * 32}
    with run_start_script(checkout=clone, workdir=tmp_path / "auth-start", env=env) as server:
        line = client_line(server)
    assert line.group(1) == f"{server.url}/app/"
    assert line.group(2) == "sign in with a token from: uv run python -m server.mint_token <user-id>"
