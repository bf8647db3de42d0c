"""SimCLR itself: the model, its loss and augmentations, the preprocessing graph, the training loop
and the export, run by the TFX Trainer and Transform. Imports ``shared`` and nothing above it."""
