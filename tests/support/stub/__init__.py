"""A tiny stand-in graph that lets the harness be checked without the product or Docker."""
