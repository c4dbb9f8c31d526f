"""The `platform` command line: offline plan and render, and the engine commands."""
