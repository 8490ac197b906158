"""Skills in `<SANDBOX_SHARED_DIR>/skills/`: listed in new threads' prompts, readable by file tools and shell.

The session server's shared folder belongs to the test run, so these tests add and
remove skills while the server keeps running, exactly as an operator would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import approve, content_text, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.langgraph_server import E2EPaths, LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

EXAMPLE_SKILL = Path(__file__).resolve().parents[2] / "shared" / "skills" / "csv-profile"
"""The example skill this repository ships."""


def _write(path: Path, data: str | bytes) -> None:
    """Create `path` (and its folders) world-readable, as files in a checkout's shared/ are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for folder in (path.parent.parent, path.parent):
        folder.chmod(0o755)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    path.chmod(0o644)


def skill_md(name: str, description: str, body: str) -> str:
    """A well-formed SKILL.md."""
    return f"---\nname: {name}\ndescription: {description}\n---\n\n{body}\n"


@contextlib.contextmanager
def skill_dirs(shared: Path, *names: str) -> Iterator[Path]:
    """The skills folder; the named skill folders are removed afterwards, whatever they became."""
    skills = shared / "skills"
    try:
        yield skills
    finally:
        for name in names:
            folder = skills / name
            if folder.exists() or folder.is_symlink():
                with contextlib.suppress(OSError):
                    folder.chmod(0o755)
                shutil.rmtree(folder)


async def test_skill_added_while_the_server_runs_reaches_new_threads(
    client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths
) -> None:
    token = uuid.uuid4().hex[:8]
    name = f"e2e-skill-{token}"
    description = f"Formats e2e reports {token}; use when asked for an e2e report"
    body = f"Step 1: say the magic word BODY-{token}."
    skill_file = f"/shared/skills/{name}/SKILL.md"
    trigger = f"e2e-skills-live-{token}"
    scripted_llm.add_scenario(
        trigger,
        call("execute", command=f"cat {skill_file}"),
        call("read_file", file_path=skill_file, limit=1000),
        say("done"),
    )

    with skill_dirs(e2e_paths.shared, name) as skills:
        before = (await client.threads.create())["thread_id"]
        scripted_llm.add_scenario(f"e2e-skills-before-{token}", say("nothing yet"))
        done = await stream_run(client, before, input=user_input(f"Anything? (e2e-skills-before-{token})"))
        assert not done.errors, done.describe()
        [first] = scripted_llm.requests_for(f"e2e-skills-before-{token}")
        assert name not in first.system_text

        _write(skills / name / "SKILL.md", skill_md(name, description, body))

        thread_id = (await client.threads.create())["thread_id"]
        paused = await stream_run(client, thread_id, input=user_input(f"Write the e2e report ({trigger})"))
        assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
        done = await stream_run(client, thread_id, command=resume(approve()))
        assert not done.errors, done.describe()

    prompt = scripted_llm.requests_for(trigger)[0].system_text
    assert f"**{name}**: {description}" in prompt, prompt
    assert f"Read `{skill_file}` for full instructions" in prompt, prompt
    assert "/shared/skills/<name>/" in prompt, "the base prompt says where skills live"

    outputs = {m["name"]: content_text(m) for m in tool_messages(await thread_state(client, thread_id))}
    assert f"BODY-{token}" in outputs["execute"], outputs
    assert f"name: {name}" in outputs["execute"], outputs
    assert f"BODY-{token}" in outputs["read_file"], outputs


async def test_shipped_example_skill_runs_in_the_sandbox(client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths) -> None:
    """The repository's csv-profile skill, copied into the server's shared folder, works from the shell."""
    token = uuid.uuid4().hex[:8]
    trigger = f"e2e-skills-example-{token}"
    command = (
        "printf 'id,city,temp\\n1,Oslo,-3.5\\n2,Rome,14\\n3,Oslo,\\n' > /workspace/weather.csv && "
        "python3 /shared/skills/csv-profile/profile_csv.py /workspace/weather.csv"
    )
    scripted_llm.add_scenario(trigger, call("execute", command=command), say("profiled"))

    with skill_dirs(e2e_paths.shared, "csv-profile") as skills:
        shutil.copytree(EXAMPLE_SKILL, skills / "csv-profile")
        for path in [skills, *sorted((skills / "csv-profile").rglob("*"))]:
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
        thread_id = (await client.threads.create())["thread_id"]
        paused = await stream_run(client, thread_id, input=user_input(f"Profile my data ({trigger})"))
        assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
        done = await stream_run(client, thread_id, command=resume(approve()))
        assert not done.errors, done.describe()

    assert "**csv-profile**: Profile a CSV" in scripted_llm.requests_for(trigger)[0].system_text
    [output] = [content_text(m) for m in tool_messages(await thread_state(client, thread_id), "execute")]
    assert "3 rows, 3 columns" in output, output
    assert "'temp': type=float empty=1 distinct=2 min=-3.5 max=14" in output, output
    assert "'city': type=text empty=0 distinct=2" in output, output


async def test_malformed_skills_are_skipped_with_a_log_line(
    client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths, langgraph_server: LangGraphServer
) -> None:
    token = uuid.uuid4().hex[:8]
    good = f"good-{token}"
    bad = {
        f"no-front-matter-{token}": "just text, no front matter\n",
        f"bad-yaml-{token}": f"---\nname: [bad-yaml-{token}\ndescription: broken YAML {token}\n---\n",
        f"no-description-{token}": f"---\nname: no-description-{token}\n---\nbody\n",
        f"not-utf8-{token}": f"---\nname: not-utf8-{token}\ndescription: ".encode() + b"\xff\xfe\n---\n",
    }
    odd = [f"escape-{token}", f"directory-{token}", f"fifo-{token}", f"unreadable-{token}"]
    trigger = f"e2e-skills-malformed-{token}"
    scripted_llm.add_scenario(trigger, say(f"still working {token}"))

    with skill_dirs(e2e_paths.shared, good, *bad, *odd) as skills:
        offset = langgraph_server.log_size()
        _write(skills / good / "SKILL.md", skill_md(good, f"The good one {token}", "ok"))
        for name, content in bad.items():
            _write(skills / name / "SKILL.md", content)
        for name in odd:
            (skills / name).mkdir(mode=0o755)
        (skills / f"escape-{token}" / "SKILL.md").symlink_to("/etc/passwd")
        (skills / f"directory-{token}" / "SKILL.md").mkdir()
        os.mkfifo(skills / f"fifo-{token}" / "SKILL.md")
        _write(skills / f"unreadable-{token}" / "SKILL.md", skill_md(f"unreadable-{token}", f"hidden {token}", "x"))
        (skills / f"unreadable-{token}").chmod(0o000)

        thread_id = (await client.threads.create())["thread_id"]
        done = await stream_run(client, thread_id, input=user_input(f"Work despite broken skills ({trigger})"))
        log = langgraph_server.log_since(offset, max_chars=200_000)

    assert not done.errors, done.describe()
    assert done.final_ai_text == f"still working {token}", done.describe()
    prompt = scripted_llm.requests_for(trigger)[0].system_text
    assert f"**{good}**: The good one {token}" in prompt, prompt
    for name in [*bad, *odd]:
        assert f"**{name}**" not in prompt, prompt
        assert f"/shared/skills/{name}/SKILL.md" in log, f"no log line names the skipped skill {name}:\n{log}"
    assert "root:" not in prompt, "the escaping symlink's target must never be read"
