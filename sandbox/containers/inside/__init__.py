"""Code that runs inside a sandbox container, on the image's own python3: standard library only, never imported by the server."""
