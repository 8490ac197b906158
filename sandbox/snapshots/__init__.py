"""Snapshots: each thread's workspace, recorded after every change so a checkpoint can bring its files back.

- `manifest`: what one snapshot records (content hashes, modes, links, folders) and what it leaves out.
- `store`: a thread's content-addressed store: blobs, manifests, head and root.
- `tree_scan`: the race-free stat walk that re-reads only what changed.
- `restore`: make a workspace match a snapshot, writing only what differs.
- `changes`: the files changed between two snapshots, with bounded unified diffs.
- `thread_snapshots`: `WorkspaceSnapshots`, per thread: record, restore, copy, changes; removed with the thread.
"""
