"""Containers: connecting to Docker, building a sandbox container, running a command in one, removing leftovers.

- `docker_api`: the engine's connection (local engines only) and image pulls.
- `container_spec`: one container's mounts, limits, identity and labels, for both modes.
- `command_wrapper`: the in-container `sh` wrapper (timeout, output cap) and its result.
- `runner`: one command, in a fresh container (ephemeral mode) or an exec (session mode).
- `runner_spec`, `runner_socket`, `inside/command_runner.py`: session mode's in-container command runner
  (what a container needs for it, the host's client, the runner itself); `docker exec` is its fallback.
- `deployment`: `SandboxDeployment`, the engine connection and what both modes share;
  `ephemeral` and `sessions` hold each mode's own container lifecycle; `session_listing` is who owns
  each session container, from one Docker listing (labels, or a pooled container's claim), and the listings
  a first command asks Docker for; `start_lock`: the lock a session container starts under, the listing its
  holders pass on, and each thread's own start lock (held until a pooled container has the thread's folders);
  `room_keeper`: the stops that keep `SANDBOX_MAX_CONTAINERS`, and when they run.
- `removal`: listing and removing what threads leave behind, by Docker label.
- `in_use`: which threads and users have a running container now (their disks stay mounted).
- `live_view`: the running containers with owner, thread, age, CPU and memory, and stopping one (admin view).
- `warm_pool`: session containers started ahead that new threads take (`SANDBOX_POOL_SIZE`);
  `pool_claims`: which thread took a pooled container, and the host mounts that give it its folders.
"""
