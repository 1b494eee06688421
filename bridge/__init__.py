"""The generator process: engine, control (OSC), outputs (shared memory, HTTP preview) and the CLI."""
