"""Layer 3 (beside `macs.eval`): everything about choosing data: actors, the console, the
selectors (random and the baselines), rewards (influence) and the online selection object."""
