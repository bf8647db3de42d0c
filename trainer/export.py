"""Exports the encoder, and a fine-tuned classifier, as SavedModels that serve encoded images (JPEG or PNG bytes).

Signatures:
  serving_default(image_bytes: string[batch]) -> {"embedding": float32[batch, features]}
  projection(image_bytes: string[batch])      -> {"projection": float32[batch, head output]}

Both apply the Transform graph (decode, resize to the stored size) and then the
evaluation view (central square at the encoder's serving size) before the encoder,
so serving preprocesses exactly as training did.

The bytes are decoded as they are: TensorFlow's decoders ignore EXIF orientation, so the
signature expects upright pixels, as ingestion stores them. ``simclr-tfx embed`` prepares each
file with the ingestion's own conversion (``components/image_decoding.convert_image``: EXIF
orientation applied, 16-bit scaled, other formats re-encoded); another client sends such bytes too
(for example after ``PIL.ImageOps.exif_transpose``). One function besides them:
  encode(images: float32[batch, height, width, 3]) -> float32[batch, features]
the encoder alone on views of any size (bench/serving_size.py scores other serving sizes with it).

The module holds the encoder's and the head's weights, not the Keras models: saving a Keras model
also traces every layer's call for Keras to reload it, which nothing here does, and which took
most of the export's time.

The served graph is float32 whatever the training precision: a model trained under
``mixed_bfloat16`` (``training.bf16``) computes in bfloat16, which a TPU runs natively but the
CPUs of the Dataflow Embedder and of the ``tf2-cpu`` serving container emulate slowly, so the
export rebuilds the encoder and head under the float32 policy and copies the trained weights in
(they are float32 variables under either policy).
"""

import types

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from shared import contract
from trainer import augment
from trainer.model import SimCLR, build_encoder_and_head


def float32_models(model: SimCLR) -> types.SimpleNamespace:
    """The trained encoder and head, rebuilt to compute in float32 and holding the same weights."""
    config = model.config
    # The input normalisation holds the Transform's channel statistics as constants, not weights.
    normalize = model.encoder.get_layer("normalize")
    mean = np.reshape(np.asarray(normalize.mean), [-1])
    std = np.sqrt(np.reshape(np.asarray(normalize.variance), [-1]))
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        encoder, head = build_encoder_and_head(config, mean, std)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    encoder.set_weights(model.encoder.get_weights())
    head.set_weights(model.head.get_weights())
    return types.SimpleNamespace(encoder=encoder, head=head, config=config)


def served_images(transform_layer, image_bytes, serving_size: int):
    """Encoded images [n] -> views [n, serving_size, serving_size, 3] in [0, 1]: the Transform graph (decode,
    resize to the stored size), then the centre square at the serving size."""
    transformed = transform_layer({contract.SERVING_INPUT: tf.reshape(image_bytes, [-1, 1])})
    return tf.map_fn(
        lambda png: augment.served_view(png, serving_size),
        tf.reshape(transformed[contract.IMAGE], [-1]),
        fn_output_signature=tf.TensorSpec([serving_size, serving_size, 3], tf.float32),
    )


class EncoderModule(tf.Module):
    def __init__(self, model, transform_output: tft.TFTransformOutput):
        """``model``: a SimCLR, or anything with its ``encoder``, ``head`` and ``config`` (``float32_models``)."""
        super().__init__(name="simclr_encoder")
        # The models are called through a holder that tf.Module does not track; their weights are tracked.
        self._models = types.SimpleNamespace(encoder=model.encoder, head=model.head)
        self.encoder_weights, self.head_weights = list(model.encoder.variables), list(model.head.variables)
        self.transform_layer = transform_output.transform_features_layer()
        self.serving_size = model.config.encoder.serving_size

    def _images(self, image_bytes):
        return served_images(self.transform_layer, image_bytes, self.serving_size)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.SERVING_INPUT)])
    def serve_embedding(self, image_bytes):
        return {contract.EMBEDDING_OUTPUT: self._features(self._images(image_bytes))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.SERVING_INPUT)])
    def serve_projection(self, image_bytes):
        features = self._models.encoder(self._images(image_bytes), training=False)
        return {"projection": tf.cast(self._models.head(features, training=False), tf.float32)}

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def encode(self, images):
        return self._features(images)

    def _features(self, images):
        """The encoder's features [n, features] float32 of views [n, s, s, 3]."""
        return tf.cast(self._models.encoder(images, training=False), tf.float32)


def export_encoder(model: SimCLR, transform_output_dir: str, export_dir: str) -> None:
    """Writes the serving SavedModel: the Transform graph then the encoder, on raw image bytes.

    Signatures: ``serving_default`` ([batch] string contract.SERVING_INPUT ->
    {contract.EMBEDDING_OUTPUT: [batch, features] float32}) and ``projection`` (the same input ->
    {"projection": [batch, head output] float32}).
    """
    module = EncoderModule(float32_models(model), tft.TFTransformOutput(transform_output_dir))
    tf.saved_model.save(
        module,
        export_dir,
        signatures={"serving_default": module.serve_embedding, "projection": module.serve_projection},
    )


class ClassifierModule(tf.Module):
    """A fine-tuned classifier served on encoded images, decoded as the encoder's signature decodes them."""

    def __init__(self, classifier, classes, transform_output: tft.TFTransformOutput, serving_size: int):
        super().__init__(name="simclr_classifier")
        self._models = types.SimpleNamespace(classifier=classifier)
        self.classifier_weights = list(classifier.variables)
        self.transform_layer = transform_output.transform_features_layer()
        self.serving_size = serving_size
        self.class_names = tf.constant(list(classes), tf.string)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.SERVING_INPUT)])
    def serve_classes(self, image_bytes):
        logits = self._models.classifier(served_images(self.transform_layer, image_bytes, self.serving_size))
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            contract.PROBABILITIES_OUTPUT: probabilities,
            contract.LABEL_ID: label_id,
            contract.LABEL: tf.gather(self.class_names, label_id),
            contract.PROBABILITY_OUTPUT: tf.reduce_max(probabilities, axis=-1),
        }


def export_classifier(classifier, classes, transform_output_dir: str, serving_size: int, export_dir: str) -> None:
    """Writes the classifier's SavedModel: ``serving_default`` ([batch] string contract.SERVING_INPUT ->
    {probabilities [batch, classes] float32, label_id [batch] int32, label [batch] string (the class name),
    probability [batch] float32 (the label's)}); the class names are those of ``classes``, in their order."""
    module = ClassifierModule(classifier, classes, tft.TFTransformOutput(transform_output_dir), serving_size)
    tf.saved_model.save(module, export_dir, signatures={"serving_default": module.serve_classes})
