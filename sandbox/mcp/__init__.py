"""MCP servers of a thread (`MCP_SERVERS_FILE`): started in its sandbox or reached at their URL, one session per (thread, server).

- `launch`: where a server runs and how it is reached: `docker exec -i` into the thread's
  container (session mode) or a container of its own (ephemeral mode) for a command
  server; the listed URL only for a streamable-HTTP one.
- `sessions`: `McpSessions`, owned by the deployment: a long-lived client session per
  (thread, server), started on first use, ended with the thread and on shutdown.
"""
