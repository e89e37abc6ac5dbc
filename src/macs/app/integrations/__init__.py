"""Bridges to other people's trainers (Hugging Face `Trainer`); each imports its framework lazily."""
