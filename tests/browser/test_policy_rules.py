# ruff: noqa: RUF001  (the Chinese texts use full-width punctuation)
"""A reviewer sees which permission rule asks, and what path rules do not cover, in the client's language.

A `langgraph dev` of its own, with an administrator's `POLICY_FILE`; the scripted
model writes under `docs/` (a rule asks) and then runs a command (path rules
exist, so the reviewer is told they do not bind the shell).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser_flows import DESKTOP, LONG, approval_items, open_client, send, wait_idle
from tests.support.e2e_servers import make_e2e_paths, server_env
from tests.support.langgraph_server import LangGraphServer, run_langgraph_dev
from tests.support.scripted_llm import ScriptedLLM, call, say
from tests.support.workspaces import remove_workspaces_under

pytestmark = [pytest.mark.docker]

RULES = [
    {"name": "secrets stay", "paths": ["**/.env"], "mode": "deny"},
    {"name": "docs pause", "tools": ["write_file"], "paths": ["docs/**"], "mode": "ask"},
]
WORDING = {
    "zh-CN": {
        "write_file": "权限规则：admin rule 2 'docs pause'（ask write_file on /workspace/docs/**）",
        "execute": "路径规则只约束文件工具",
    },
    "en-US": {
        "write_file": "permission rule: admin rule 2 'docs pause' (ask write_file on /workspace/docs/**)",
        "execute": "path rules bind the file tools only",
    },
}


@pytest.fixture(scope="module")
def policy_server(scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str) -> Iterator[LangGraphServer]:
    paths = make_e2e_paths(tmp_path_factory.mktemp("browser-policy"))
    policy_file = paths.server_home / "policy.json"
    policy_file.write_text(json.dumps({"rules": RULES}), encoding="utf-8")
    try:
        with run_langgraph_dev(
            workdir=paths.server_home, env=server_env(scripted_llm, paths, sandbox_image, POLICY_FILE=str(policy_file))
        ) as running:
            yield running
    finally:
        remove_workspaces_under(paths.workspaces, paths.memories)


@pytest.mark.parametrize("locale", list(WORDING))
def test_the_reviewer_sees_the_rule_and_what_rules_do_not_cover(
    browser: Browser, policy_server: LangGraphServer, scripted_llm: ScriptedLLM, locale: str, shoot
) -> None:
    prompt = f"write docs then run {uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(
        prompt,
        call("write_file", file_path="/workspace/docs/a.md", content="# a\n"),
        call("execute", command="cat /workspace/docs/a.md"),
        say("all decided"),
    )
    context = browser.new_context(viewport=DESKTOP, locale=locale)
    context.set_default_timeout(60_000)
    try:
        page = context.new_page()
        open_client(page, policy_server)
        send(page, prompt)

        items = approval_items(page)
        expect(items).to_have_attribute("data-tool", "write_file", timeout=LONG)
        expect(items).to_contain_text(WORDING[locale]["write_file"])
        expect(items).not_to_contain_text(WORDING[locale]["execute"])
        items.get_by_test_id("decision-approve").click()

        expect(items).to_have_attribute("data-tool", "execute", timeout=LONG)
        expect(items).to_contain_text(WORDING[locale]["execute"])
        shoot(page, f"policy-{locale}")
        items.get_by_test_id("decision-reject").click()
        page.get_by_test_id("submit-decisions").click()
        expect(page.get_by_test_id("ai-message").last).to_contain_text("all decided", timeout=LONG)
        wait_idle(page)
    finally:
        context.close()
