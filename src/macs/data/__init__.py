"""Layer 1 (imports only `macs.core`): the corpus store, tasks, the selection pool, label
sidecars and the run directory (`macs.data.rundir`). The packaged default quality model lives in
`quality-default/` beside this file."""
