"""A classifier from the pretrained encoder, for users with few labels.

``finetuner`` (the component) fine-tunes the encoder and the projection head's first layer on the
labelled images (SimCLR v2; the training itself is ``trainer/finetune.py``), scores it on label
subsets drawn as the linear probes draw them, and exports the classifier's SavedModel."""
