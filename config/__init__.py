"""Configuration shared by every layer (`server/`, `agent/`, `sandbox/`); imports nothing of theirs."""
