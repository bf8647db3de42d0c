"""SimCLR model, preprocessing and training code run by the TFX Trainer and Transform."""
