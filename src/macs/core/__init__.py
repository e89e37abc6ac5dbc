"""Layer 0, used by everything and importing nothing above it: errors, atomic io, locks, file
formats, progress and timing, names, device, safe loading, reward statistics, the executor."""
