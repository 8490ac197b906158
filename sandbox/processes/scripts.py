"""The `sh` scripts a background process lives by, inside its container.

A process's state lives in the container's `/tmp/.processes/<id>/` (tmpfs, so it
counts against the sandbox's memory cap): `pid` (its process group, made by
`setsid`), `log` (stdout and stderr, appended), `in` (a FIFO that is its stdin,
opened read-write so it never sees end-of-file while idle) and `exit` (its exit
status, once it ended). The host reads all of it through short `docker exec`s,
so a server that restarted finds a running process just where it left it: no
stream of the old server had to survive.
"""

from __future__ import annotations

PROCESS_ROOT = "/tmp/.processes"
"""Where every script below keeps a process's files (spelled out in each, so each is a plain constant)."""

START = """\
d=/tmp/.processes/$1; mkdir -p "$d" && mkfifo "$d/in" || exit 1
setsid sh -c "$2" <>"$d/in" >>"$d/log" 2>&1 &
echo $! >"$d/pid.part" && mv "$d/pid.part" "$d/pid"
wait $!
echo $? >"$d/exit.part" && mv "$d/exit.part" "$d/exit"
"""
"""Start `$2` for process `$1` (run detached): its own process group, so a stop ends all it started."""

PROBE = """\
d=/tmp/.processes/$1
if [ -f "$d/exit" ]; then echo "exit $(cat "$d/exit")"
elif [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then echo running
elif [ -f "$d/pid" ]; then echo gone
else echo starting; fi
[ -f "$d/log" ] && tail -c +"$2" "$d/log" | head -c "$3"
exit 0
"""
"""Process `$1`'s state on the first line, then up to `$3` bytes of its output from byte `$2` (1-based).

The state is read before the output, so output read after "exit" is complete."""

SEND_INPUT = """\
d=/tmp/.processes/$1
[ -p "$d/in" ] && [ ! -f "$d/exit" ] || { echo "not running"; exit 1; }
printf %s "$2" >"$d/in"
"""
"""Write `$2` to process `$1`'s stdin."""

STOP = """\
d=/tmp/.processes/$1
[ -f "$d/pid" ] || exit 0
pid=$(cat "$d/pid")
kill -TERM -$pid 2>/dev/null || exit 0
i=0; while kill -0 -$pid 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL -$pid 2>/dev/null
exit 0
"""
"""SIGTERM process `$1`'s whole process group, SIGKILL what is left after two seconds."""


def argv(script: str, *args: str) -> list[str]:
    """`sh -c script` with positional arguments: nothing the agent wrote is ever parsed by a shell but its own command."""
    return ["sh", "-c", script, "process", *args]
