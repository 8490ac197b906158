"""Disks: where a thread's and a user's data lives on the host, and how much of it may.

- `quota_disks`: where each kind of quota disk (workspace, artifacts, snapshots, memories) lives, and its size.
- `thread_ids`: the one spelling of a thread id that may name a folder, image or container.
- `workspace`: `ThreadRef`, and a thread's `/workspace` folder: prepared before use, removed once.
- `workspace_owner`: which user a workspace was first prepared for.
- `artifacts`: a thread's `/artifacts`, where deepagents writes on its own.
- `memories`: each user's `/memories` folder.
- `disk_quota`: a folder as its own loop-mounted ext4 image (create, mount, remove);
  `disk_budget`: what all images may add up to, in total and per user;
  `budget_tally`: those sums kept beside the images, so a new disk's check need not stat them all;
  `spare_images`: empty images formatted ahead, so a new disk skips `mkfs.ext4`;
  `mount_calls`: mount(2), umount2(2) and loop devices, without spawning `mount`;
  `release`: unmounting the disks nobody uses when the server stops.
"""
