"""Get the database (and Redis) ready before Aegra's server processes start; serve.sh runs it once.

(It also creates the graphs' default assistants, which workers starting together would race on.)

Every Aegra process would otherwise migrate the schema at startup and run LangGraph's
checkpointer and store `setup()`, and several processes doing that at once race on
`CREATE TABLE`. So `deploy/aegra/serve.sh` runs all of it here, once, and starts the
workers with `RUN_MIGRATIONS_ON_STARTUP=false`: their own `setup()` calls then find
every migration applied and change nothing. It also checks that Redis answers when the
broker is on, so a wrong `REDIS_URL` is reported before any worker starts.

Reads Aegra's settings from the environment (`DATABASE_URL`, `REDIS_BROKER_ENABLED`,
`REDIS_URL`, `AEGRA_CONFIG`). Exits 1 with a one-line reason when something is not usable.
"""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit, urlunsplit


def redacted(url: str) -> str:
    """`url` without its password, fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}:***@{netloc[1]}"))


def migrate() -> None:
    """Aegra's schema migrations (alembic upgrade head, under its advisory lock)."""
    from aegra_api.core.migrations import run_migrations  # noqa: PLC0415 - reads the environment on import

    run_migrations()


async def set_up_langgraph_tables() -> None:
    """LangGraph's checkpointer and store tables, through Aegra's own database manager."""
    from aegra_api.core.database import DatabaseManager  # noqa: PLC0415

    manager = DatabaseManager()
    try:
        await manager.initialize()
    finally:
        await manager.close()


async def create_default_assistants() -> None:
    """Each graph's default assistant, created once here rather than by every worker.

    Every Aegra process creates the missing ones at startup; two doing that at once
    insert the same assistant id, and the loser exits (duplicate key on
    `assistant_pkey`), which stops the whole server. Aegra's own code creates them
    here (it loads the graphs to list them); the workers then find them.
    """
    from aegra_api.core.database import db_manager  # noqa: PLC0415 - reads the environment on import
    from aegra_api.services.langgraph_service import get_langgraph_service  # noqa: PLC0415

    await db_manager.initialize()
    try:
        await get_langgraph_service().initialize()
    finally:
        await db_manager.close()


async def ping_redis(url: str) -> None:
    """Raise unless Redis at `url` answers PING within 10 seconds."""
    import redis.asyncio as aioredis  # noqa: PLC0415 - only needed with the broker on

    client = aioredis.Redis.from_url(url, socket_connect_timeout=10, socket_timeout=10)
    try:
        await client.ping()
    finally:
        await client.aclose()


def main() -> int:
    """Migrate, set up LangGraph's tables, check Redis; print what failed and return 1 if anything did."""
    from aegra_api.settings import settings  # noqa: PLC0415

    database = redacted(settings.db.database_url_sync)
    try:
        migrate()
        asyncio.run(set_up_langgraph_tables())
    except Exception as error:  # any failure here is reported, in one line, to the operator
        print(f"error: PostgreSQL at {database} is not usable: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"database {database}: schema up to date", file=sys.stderr)
    try:
        asyncio.run(create_default_assistants())
    except Exception as error:  # a graph that cannot load: the server's own start says so, with its log
        print(f"note: default assistants not created before the workers start: {type(error).__name__}: {error}", file=sys.stderr)
    if settings.redis.REDIS_BROKER_ENABLED:
        redis_url = redacted(settings.redis.REDIS_URL)
        try:
            asyncio.run(ping_redis(settings.redis.REDIS_URL))
        except Exception as error:
            print(f"error: Redis at {redis_url} does not answer: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
        print(f"redis {redis_url}: answers", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
