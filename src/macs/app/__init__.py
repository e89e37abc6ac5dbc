"""Layer 4, the top: the root config, every CLI command, the pipeline (`macs run`), `macs
compare`, the report, exports and integrations. Nothing below imports from here."""
