"""One permission policy for every tool call: allow, ask or deny (docs/permissions.md).

- `rules`: a rule's shape (deepagents' `FilesystemPermission`, widened to tools and commands), read from JSON-like data;
- `commands`: `execute` command patterns;
- `matching`: whether a rule matches a call, through deepagents' path matcher;
- `paths`: a call's facts, its paths spelled every way (as written, normalised, resolved by the file tools' walk);
- `layers`: admin, assistant and user rules; the strictest opinion wins, else the approval defaults;
- `loading`: the administrator's rules from `POLICY_FILE`;
- `enforcement`: verdicts recorded when the model answers, `when` for the approval gate, denials in the tools node.
"""
