"""Previews: a person opens an app that listens on a port inside a thread's sandbox, while the sandbox keeps no network.

The sandbox runs with `network_mode="none"`: only its own loopback. A relay inside
it (`relay`, stdlib Python started on demand as the sandbox user) bridges one
port of that loopback to a unix socket in a folder of the host's
(`folders`, mounted at `/run/previews`); the server connects to that socket
(`host_side`) and nothing else. The relay can only reach what the container's
own loopback reaches, that is the container itself, and the server only ever
connects to a socket file inside the thread's own folder, never through a link.
"""
