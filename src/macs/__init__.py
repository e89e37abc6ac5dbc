"""macs: multi-actor collaborative pretraining data selection.

The public API (imported lazily, so `import macs` stays light):

- `macs.OnlineSelection`: the selection of each stage (initial(), refresh(model, step),
  state_dict()) by the multi-actor method or any baseline, for any causal LM.
- `macs.StageDataset`: a torch IterableDataset of packed blocks of the current stage.
- `macs.SelectionCallback`: the Hugging Face `Trainer` callback that refreshes the selection.
- `macs.load_config`, `macs.open_pool`: a config and its selection pool.
"""

__version__ = "0.2.0"

_LAZY = {
    "OnlineSelection": ("macs.app.online", "OnlineSelection"),
    "Stage": ("macs.select.online", "Stage"),
    "StageDataset": ("macs.train.dataset", "StageDataset"),
    "SelectionCallback": ("macs.app.integrations.hf_trainer", "SelectionCallback"),
    "load_config": ("macs.app.config", "load_config"),
    "open_pool": ("macs.data.pool", "open_pool"),
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'macs' has no attribute {name!r}")
