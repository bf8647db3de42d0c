"""The SimCLR TFX pipeline: its definition, typed configs, runners and CLI."""
