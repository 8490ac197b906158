"""Files: the agent's file tools, run on the host against a thread's bind-mounted folders.

- `file_tools`: `HostFiles`, one thread's tools (`ls`, `read`, `write`, `edit`, `delete`, up/download);
  `file_search`: its `glob` and `grep`.
- `file_rename`: the thread owner's rename, through the same walk and rules as the file tools.
- `file_protocol`: deepagents' `BackendProtocol` on top of `HostFiles`, off the event loop.
- `fd_walk`: the race-free walk from directory fds that every path goes through;
  `walk_session`: one operation's walk, opening only the roots it reaches.
- `canonical`: the container path that walk lands on, for permission rules to match.
- `fs_identity`: the sandbox user's filesystem identity for the calling thread only.
- `text_ops`: read windows, CRLF-keeping edits and line grep on open files.
- `staged_upload`: an upload that replaces its target only when complete.
- `path_errors`: what a refused or failed file call says, in virtual paths only.
"""
