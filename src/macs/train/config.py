"""Config section(s) for macs.train (owned by that layer; fields documented one line each)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ModelConfig(BaseModel):
    """The language model: a named Llama size, or any local Hugging Face causal LM directory."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    size: str = Field(
        "llama-1m", description="named size (macs.train.model.SIZES: llama-1m .. llama-125m)"
    )
    path: str | None = Field(
        None, description="local HF causal LM directory to start from instead of a named size"
    )
    hidden_size: int | None = Field(
        None, ge=1, description="override the named size's hidden width"
    )
    n_layers: int | None = Field(
        None, ge=1, description="override the named size's number of layers"
    )
    n_heads: int | None = Field(None, ge=1, description="override the named size's attention heads")
    intermediate_size: int | None = Field(
        None, ge=1, description="override the named size's MLP width"
    )


class TrainConfig(BaseModel):
    """Staged pretraining: optimiser, schedule, batch shape, stages and checkpoints."""

    model_config = ConfigDict(extra="forbid")
    tokens: float = Field(
        2e5, description="training tokens in total (all ranks); sets the number of steps"
    )
    stages: int = Field(
        5, description="number of stages; a refresh runs every total_steps/stages steps"
    )
    seq_len: int = Field(128, description="tokens per packed training sequence")
    batch_size: int = Field(8, description="sequences per micro-batch per process")
    grad_accum: int = Field(1, description="micro-batches accumulated per optimiser step")
    lr: float = Field(3e-3, gt=0, description="peak learning rate (AdamW)")
    min_lr_ratio: float = Field(
        0.1, ge=0, le=1, description="final learning rate as a fraction of the peak"
    )
    warmup_frac: float = Field(0.05, ge=0, lt=1, description="fraction of steps of linear warmup")
    schedule: Literal["cosine", "wsd"] = Field(
        "cosine", description="cosine decay, or warmup-stable-decay (WSD)"
    )
    decay_frac: float = Field(
        0.2, description="WSD only: fraction of steps spent decaying at the end"
    )
    weight_decay: float = Field(
        0.1, description="AdamW decoupled weight decay (not on norms/biases)"
    )
    beta1: float = Field(0.9, description="AdamW beta1")
    beta2: float = Field(0.95, description="AdamW beta2")
    grad_clip: float = Field(
        1.0, ge=0, description="clip the global gradient L2 norm to this (0 = off)"
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto = bf16 autocast on CUDA, fp32 on CPU"
    )
    compile: bool = Field(False, description="torch.compile the model (CUDA only)")
    reward_max_tokens: int = Field(
        0,
        ge=0,
        description="cut each reward-sampled document to this many tokens (0 = whole document, windowed)",
    )
    log_every: int = Field(
        10, ge=1, description="write a metrics.jsonl line every N optimiser steps"
    )
    checkpoint_every: int = Field(
        0, ge=0, description="also checkpoint every N steps inside a stage (0 = at stage ends only)"
    )
    keep_stage_checkpoints: bool = Field(
        False, description="keep a full checkpoint per stage (else only the latest)"
    )
    eval_at_end: bool = Field(True, description="run macs.eval on the final model")
    threads: int = Field(0, ge=0, description="torch CPU threads (0 = leave torch's default)")

    @field_validator("stages", "seq_len", "batch_size", "grad_accum")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be >= 1")
        return v

    @field_validator("tokens")
    @classmethod
    def _tokens(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be > 0 (e.g. 2e5)")
        return v
