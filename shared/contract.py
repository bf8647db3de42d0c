"""The names every stage shares, each defined once: feature keys, the serving signature,
artifact file names and component ids.

Like ``features.py`` in the TFX templates, this module imports nothing of the project, so
every package (pipeline -> components -> trainer -> shared) can import it without pulling in another.
"""

# --- tf.train.Example features that ImageExampleGen writes (one per image) ---
IMAGE_BYTES = "image_bytes"  # the image file's bytes: JPEG or PNG as read, other formats re-encoded as PNG
IMAGE_FORMAT = "image_format"  # "jpeg" or "png"
LABEL = "label"  # the class name; UNLABELLED_LABEL in the unlabelled split
LABEL_ID = "label_id"  # the class's index in the sorted class names (the Examples artifact's "classes"), or -1
UNLABELLED_LABEL = ""  # LABEL of an image without a class (its LABEL_ID is UNLABELLED_ID)
UNLABELLED_ID = -1
RELATIVE_PATH = "relative_path"  # below the dataset folder, '/'-separated
HEIGHT = "height"
WIDTH = "width"
SHA256 = "sha256"  # of IMAGE_BYTES as read: the image's identity for splits, duplicates and subsets

# --- features that Transform adds (trainer/preprocessing.py); LABEL and LABEL_ID pass through ---
IMAGE = "image"  # PNG bytes, shorter side = transform.stored_size
CHANNEL_MEAN = "channel_mean"  # [3] float32, pixel values scaled to [0, 1], over the whole train split
CHANNEL_STD = "channel_std"  # [3] float32

# --- the exported encoder (SavedModel) ---
SERVING_DIR = "Format-Serving"  # inside the Trainer's Model artifact
SERVING_SIGNATURE = "serving_default"  # [batch] string IMAGE_BYTES -> {"embedding": [batch, features] float32}
SERVING_INPUT = IMAGE_BYTES
EMBEDDING_OUTPUT = "embedding"

# --- the exported classifier (SavedModel, FineTuner's model): SERVING_SIGNATURE on SERVING_INPUT ->
# {PROBABILITIES_OUTPUT [batch, classes] float32, LABEL_ID [batch] int32, LABEL [batch] string,
#  PROBABILITY_OUTPUT [batch] float32 (the predicted class's)}
PROBABILITIES_OUTPUT = "probabilities"
PROBABILITY_OUTPUT = "probability"

# --- properties on artifacts ---
INPUT_FINGERPRINT = "input_fingerprint"  # ImageExampleGen's examples: the fingerprint of the data they hold

# --- files inside artifacts ---
SNAPSHOT_FILE = "snapshot.json"  # DataFingerprint: fingerprints and the retrain decision
INGEST_REPORT_FILE = "ingest_report.json"  # ImageExampleGen: counts, rejected, ignored, duplicates
HISTORY_FILE = "history.json"  # Trainer's model_run: per-epoch loss, learning rate, kNN monitor
LOSS_CURVE_FILE = "loss_curve.png"  # Trainer's model_run
EVALUATION_METRICS_FILE = "metrics.json"  # LinearEval: the probes' and kNN's figures
EVALUATION_REPORT_FILE = "report.md"  # LinearEval: the same, for people
BASELINE_METRICS_FILE = "metrics.json"  # SupervisedBaseline: its probes' figures
FINETUNE_METRICS_FILE = "metrics.json"  # FineTuner: the fine-tuned classifiers' figures
BLESSING_FILE = "blessing.json"  # Blesser: blessed or not, and why
PUSH_FILE = "push.json"  # RegistryPusher: the version pushed, or why none

# --- component ids (TFX node ids: MLMD contexts, Vertex AI task names) ---
DATA_FINGERPRINT = "DataFingerprint"
IMAGE_EXAMPLE_GEN = "ImageExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "SchemaGen"
EXAMPLE_VALIDATOR = "ExampleValidator"
ANOMALY_GATE = "AnomalyGate"
TRANSFORM = "Transform"
TRAINER = "Trainer"
EMBEDDER = "Embedder"
SUPERVISED_BASELINE = "SupervisedBaseline"
LINEAR_EVAL = "LinearEval"
FINE_TUNER = "FineTuner"
BLESSER = "Blesser"
REGISTRY_PUSHER = "RegistryPusher"
CLASSIFIER_BLESSER = "ClassifierBlesser"
CLASSIFIER_PUSHER = "ClassifierPusher"

# --- the Trainer's custom_config (what the pipeline sends to trainer/task.py's run_fn) ---
TRAINING_CONFIG_KEY = "training"  # the TrainingConfig as JSON
INPUT_SETTINGS_KEY = "input_settings"  # the settings that turn the data into examples (stage_keys sections)
INPUT_DIGEST_KEY = "input_digest"  # the transform stage's key: what the Trainer trains on, by content
CHECKPOINT_ROOT_KEY = "checkpoint_root"  # where resumable checkpoints live, outside every run
TRAIN_IMAGES_KEY = "train_images"  # the train split's example count, when the caller knows it
TRAIN_SPLIT = "train"
UNLABELLED_SPLIT = "unlabelled"  # images without a class: pretraining reads them with TRAIN_SPLIT, probes never
