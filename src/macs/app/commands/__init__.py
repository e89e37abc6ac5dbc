"""The CLI subcommands; each module defines `register(app)` (see `macs.app.cli`)."""
