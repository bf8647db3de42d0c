"""Custom TFX components of the SimCLR pipeline."""
