"""Trainer building blocks: loss, optimiser, schedule, augmentations, encoders, recipes."""

import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from pipeline.config import load_config
from trainer import augment, objective, schedules
from trainer.config import AugmentConfig, TrainingConfig
from trainer.heads import build_projection_head
from trainer.lars import LARS
from trainer.resnet import build_resnet
from trainer.train import plan_steps

pytestmark = pytest.mark.slow(minutes=1.5)


def _seed_style_nt_xent(zis, zjs, temperature):
    """The seed notebook's boolean-mask formulation, as a reference."""
    n = zis.shape[0]
    zis, zjs = tf.math.l2_normalize(zis, 1), tf.math.l2_normalize(zjs, 1)
    l_pos = tf.reshape(tf.reduce_sum(zis * zjs, 1), (n, 1)) / temperature
    negatives = tf.concat([zjs, zis], 0)
    mask = 1 - np.tile(np.eye(n), (1, 2))  # drops self and positive from the negatives
    loss = 0.0
    for positives in (zis, zjs):
        l_neg = tf.reshape(
            tf.boolean_mask(tf.matmul(positives, negatives, transpose_b=True), mask.astype(bool)), (n, -1)
        )
        logits = tf.concat([l_pos, l_neg / temperature], 1)
        loss += tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(tf.zeros(n, tf.int32), logits))
    return loss / (2 * n)


def test_nt_xent_matches_the_seed_formulation():
    rng = np.random.default_rng(1)
    z1, z2 = (tf.constant(rng.normal(size=(6, 5)), tf.float32) for _ in range(2))
    loss, accuracy = objective.nt_xent([z1, z2], 0.5)
    assert float(loss) == pytest.approx(float(_seed_style_nt_xent(z1, z2, 0.5)), rel=1e-5)
    assert 0.0 <= float(accuracy) <= 1.0


def test_decoupled_loss_leaves_the_positive_out_of_the_denominator():
    rng = np.random.default_rng(2)
    z1, z2 = (rng.normal(size=(5, 4)) for _ in range(2))
    loss, _ = objective.nt_xent([tf.constant(z1, tf.float32), tf.constant(z2, tf.float32)], 0.3, decoupled=True)
    views = np.concatenate([z1, z2]) / np.linalg.norm(np.concatenate([z1, z2]), axis=1, keepdims=True)
    similarity = views @ views.T / 0.3
    expected = []
    for anchor in range(10):
        partner = (anchor + 5) % 10
        negatives = [similarity[anchor, other] for other in range(10) if other not in (anchor, partner)]
        expected.append(np.log(np.sum(np.exp(negatives))) - similarity[anchor, partner])
    assert float(loss) == pytest.approx(np.mean(expected), rel=1e-5)
    coupled, _ = objective.nt_xent([tf.constant(z1, tf.float32), tf.constant(z2, tf.float32)], 0.3)
    assert float(coupled) > float(loss)  # NT-Xent's denominator also holds the positive


def test_debiased_loss_takes_the_expected_same_class_share_out_of_the_negatives():
    rng = np.random.default_rng(4)
    z1, z2 = (tf.constant(rng.normal(size=(6, 4)), tf.float32) for _ in range(2))
    plain, _ = objective.nt_xent([z1, z2], 0.5)
    assert float(objective.nt_xent([z1, z2], 0.5, debiased_prior=1e-9)[0]) == pytest.approx(float(plain), rel=1e-5)
    loss, _ = objective.nt_xent([z1, z2], 0.5, debiased_prior=0.2)
    views = np.concatenate([z1.numpy(), z2.numpy()])
    views /= np.linalg.norm(views, axis=1, keepdims=True)
    similarity = views @ views.T / 0.5
    expected = []
    for anchor in range(12):
        partner = (anchor + 6) % 12
        negatives = np.exp([similarity[anchor, other] for other in range(12) if other not in (anchor, partner)])
        positive = np.exp(similarity[anchor, partner])
        estimate = max((negatives.sum() - 0.2 * 10 * positive) / 0.8, 10 * np.exp(-1 / 0.5))
        expected.append(np.log(positive + estimate) - similarity[anchor, partner])
    assert float(loss) == pytest.approx(np.mean(expected), rel=1e-5)
    assert float(loss) < float(plain)


def test_nt_xent_over_more_views_averages_over_every_positive():
    rng = np.random.default_rng(3)
    images, count = 4, 3
    views = [rng.normal(size=(images, 5)) for _ in range(count)]
    loss, accuracy = objective.nt_xent([tf.constant(z, tf.float32) for z in views], 0.4)
    stacked = np.concatenate(views)
    stacked /= np.linalg.norm(stacked, axis=1, keepdims=True)
    similarity = stacked @ stacked.T / 0.4
    expected = []
    for anchor in range(images * count):
        others = [other for other in range(images * count) if other != anchor]
        positives = [other for other in others if other % images == anchor % images]
        log_denominator = np.log(np.sum(np.exp(similarity[anchor, others])))
        expected.append(np.mean([log_denominator - similarity[anchor, p] for p in positives]))
    assert float(loss) == pytest.approx(np.mean(expected), rel=1e-5)
    assert 0.0 <= float(accuracy) <= 1.0
    two_views, _ = objective.nt_xent([tf.constant(z, tf.float32) for z in views[:2]], 0.4)
    assert float(two_views) != pytest.approx(float(loss), rel=1e-3)  # the third view counts


def test_nt_xent_is_low_and_accurate_for_matching_views():
    z = tf.constant(np.eye(8), tf.float32)
    loss, accuracy = objective.nt_xent([z, z], 0.1)
    assert float(accuracy) == 1.0 and float(loss) < 1e-3
    assert float(objective.nt_xent([tf.cast(z, tf.bfloat16)] * 2, 0.1)[0]) < 1e-3


def test_lars_adapts_kernels_only():
    kernel = tf.Variable(np.full((2, 2), 2.0, np.float32))
    bias = tf.Variable(np.full((2,), 2.0, np.float32))
    optimizer = LARS(learning_rate=1.0, momentum=0.0, weight_decay=0.1, eeta=0.001)
    optimizer.apply_gradients([(tf.ones((2, 2)), kernel), (tf.ones((2,)), bias)])
    gradient = 1.0 + 0.1 * 2.0  # decayed kernel gradient
    trust = 0.001 * 4.0 / (2 * gradient)  # eeta * ||w|| / ||g||
    np.testing.assert_allclose(kernel.numpy(), 2.0 - trust * gradient, rtol=1e-6)
    np.testing.assert_allclose(bias.numpy(), 1.0, rtol=1e-6)  # plain SGD step, no decay, no trust ratio


def test_warmup_must_end_before_training_does():
    with pytest.raises(ValueError, match=r"warmup_epochs \(10\) must be fewer than epochs \(8\)"):
        TrainingConfig.model_validate({"epochs": 8})


def test_warmup_then_cosine():
    schedule = schedules.WarmupCosine(peak=1.0, warmup_steps=10, total_steps=110)
    assert float(schedule(0)) == 0.0 and float(schedule(5)) == pytest.approx(0.5)
    assert float(schedule(10)) == pytest.approx(1.0) and float(schedule(60)) == pytest.approx(0.5)
    assert float(schedule(110)) == pytest.approx(0.0, abs=1e-6)
    assert schedules.scaled_learning_rate(0.3, 512, "linear") == pytest.approx(0.6)
    assert schedules.scaled_learning_rate(0.075, 4096, "sqrt") == pytest.approx(4.8)


def test_batches_that_cannot_be_split_or_filled_are_refused():
    config = TrainingConfig(batch_size=6)
    assert plan_steps(config, 100, 2) == (16, 16 * config.epochs)
    with pytest.raises(ValueError, match="cannot be split across 4 replicas"):
        plan_steps(config, 100, 4)
    with pytest.raises(ValueError, match="larger than the 5 training images"):
        plan_steps(config, 5, 1)


def test_augmentations_are_drawn_per_image():
    tf.random.set_seed(3)
    image = tf.random.uniform([40, 50, 3])
    views = [augment.augment_image(image, 24, AugmentConfig()) for _ in range(4)]
    for view in views:
        assert view.shape == (24, 24, 3)
        assert float(tf.reduce_min(view)) >= 0.0 and float(tf.reduce_max(view)) <= 1.0
    assert len({float(tf.reduce_sum(v)) for v in views}) == 4


def test_seed_style_jitter_is_shared_by_the_batch():
    tf.random.set_seed(4)
    batch = tf.tile(tf.random.uniform([1, 8, 8, 3]), [4, 1, 1, 1])
    jittered = augment.jitter_batch(batch, AugmentConfig(jitter_probability=1.0, jitter_strength=1.0))
    np.testing.assert_allclose(jittered[0].numpy(), jittered[3].numpy(), atol=1e-6)


def test_gaussian_blur_keeps_mean_and_smooths():
    image = tf.random.uniform([32, 32, 3])
    blurred = augment.gaussian_blur(image, 5, (1.5, 1.5))
    assert blurred.shape == image.shape
    assert float(tf.math.reduce_std(blurred)) < float(tf.math.reduce_std(image))


@pytest.mark.parametrize(
    "depth, stem, size, features", [(18, "small", 32, 64), (34, "imagenet", 96, 64), (50, "imagenet", 80, 256)]
)
def test_resnets_with_width_multiplier(depth, stem, size, features):
    model = build_resnet(depth, width_multiplier=0.125, image_size=size, stem=stem)
    assert model(tf.zeros([2, size, size, 3])).shape == (2, features)
    first_conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert first_conv.kernel_size == ((3, 3) if stem == "small" else (7, 7))


def test_the_encoder_serves_at_its_evaluation_size():
    from trainer.model import build_encoder

    config = TrainingConfig.model_validate(
        {"encoder": {"depth": 10, "width_multiplier": 0.125, "image_size": 16, "eval_image_size": 24, "stem": "small"}}
    )
    assert config.encoder.serving_size == 24
    assert TrainingConfig.model_validate({"encoder": {"image_size": 16}}).encoder.serving_size == 16
    encoder = build_encoder(config, [0.5] * 3, [0.25] * 3)
    images = tf.random.stateless_uniform([2, 24, 24, 3], seed=(1, 2))
    assert encoder(images).shape == encoder(images[:, :16, :16]).shape == (2, 64)


def test_projection_heads():
    head = build_projection_head(64, [256, 128, 50], batch_norm=False)
    assert head(tf.zeros([3, 64])).shape == (3, 50)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in head.layers)
    bn_head = build_projection_head(64, [32, 16], batch_norm=True)
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in bn_head.layers) == 2


def test_seed_recipe_reproduces_the_notebook_settings():
    seed = load_config("seed").training
    assert seed.encoder == load_config("local").training.encoder  # side by side with local
    assert seed.epochs == load_config("local").training.epochs
    assert seed.head.widths == (256, 128, 50) and not seed.head.batch_norm
    assert (seed.temperature, seed.batch_size, seed.optimizer.name) == (0.1, 64, "sgd")
    assert seed.optimizer.cosine_decay_steps == 1000 and not seed.augment.crop and seed.augment.per_batch_jitter
    paper = load_config("local").training
    assert paper.optimizer.name == "lars" and paper.augment.crop and paper.head.batch_norm


@pytest.mark.parametrize("recipe, optimizer", [("paper", "lars"), ("paper", "sgd"), ("paper", "adam"), ("seed", None)])
def test_every_optimizer_and_recipe_builds_and_takes_a_step(recipe, optimizer):
    from trainer.model import SimCLR

    overrides = {
        "encoder": {"depth": 10, "width_multiplier": 0.125, "image_size": 16, "stem": "small"},
        "batch_size": 4,
        "epochs": 2,
        "sync_batch_norm": False,
    }
    if optimizer:
        overrides["optimizer"] = {"name": optimizer, "warmup_epochs": 1}
    config = load_config("local", recipe=recipe, training=overrides).training
    model = SimCLR.create(config, tf.distribute.get_strategy(), [0.5] * 3, [0.25] * 3, 2, 4)
    images = tf.random.uniform([4, 16, 16, 3])
    loss, _ = model.train_step(iter(tf.data.Dataset.from_tensors((images, images)).repeat()))
    assert np.isfinite(float(loss)) and int(model.optimizer.iterations) == 1


def test_multi_crop_feeds_small_views_into_every_step(tmp_path):
    from trainer import data
    from trainer.model import SimCLR

    records, feature_spec = _stored_images(tmp_path)
    config = load_config(
        "local",
        training={
            "encoder": {"depth": 10, "width_multiplier": 0.125, "image_size": 16, "stem": "small"},
            "augment": {"local_views": 3, "local_view_size": 8},
            "head": {"widths": [16, 8]},
            "batch_size": 4,
            "epochs": 4,
            "sync_batch_norm": False,
        },
    ).training
    view1, view2, small = next(iter(data.pretraining_dataset([records], feature_spec, config, num_images=4)))
    assert view1.shape == view2.shape == (4, 16, 16, 3) and small.shape == (4, 3, 8, 8, 3)

    model = SimCLR.create(config, tf.distribute.get_strategy(), [0.5] * 3, [0.25] * 3, 1, 2)
    loss, _, _ = model.replica_loss_and_gradients(view1, view2, small)
    other_loss, _, _ = model.replica_loss_and_gradients(view1, view2, tf.reverse(small, [0]))
    assert float(loss) != pytest.approx(float(other_loss), rel=1e-4)  # the small views are positives of their image
    step_loss, _ = model.train_step(iter(tf.data.Dataset.from_tensors((view1, view2, small)).repeat()))
    assert np.isfinite(float(step_loss)) and int(model.optimizer.iterations) == 1


def _stored_images(tmp_path, count=4, variant=0):
    """A TFRecord of random PNGs with channel statistics, as the Transform stores them, and its feature spec."""
    from shared import contract

    images = tf.image.convert_image_dtype(tf.random.stateless_uniform([count, 20, 24, 3], seed=(5, variant)), tf.uint8)
    feature_spec = {
        contract.IMAGE: tf.io.FixedLenFeature([1], tf.string),
        contract.CHANNEL_MEAN: tf.io.FixedLenFeature([3], tf.float32),
        contract.CHANNEL_STD: tf.io.FixedLenFeature([3], tf.float32),
    }
    records = str(tmp_path / f"stored-{variant}.tfrecord.gz")
    with tf.io.TFRecordWriter(records, options="GZIP") as writer:
        for image in images:
            writer.write(
                tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            contract.IMAGE: tf.train.Feature(
                                bytes_list=tf.train.BytesList(value=[tf.io.encode_png(image).numpy()])
                            ),
                            contract.CHANNEL_MEAN: tf.train.Feature(float_list=tf.train.FloatList(value=[0.5] * 3)),
                            contract.CHANNEL_STD: tf.train.Feature(float_list=tf.train.FloatList(value=[0.25] * 3)),
                        }
                    )
                ).SerializeToString()
            )
    return records, feature_spec


def test_the_random_state_fixes_the_initial_weights(tmp_path):
    from trainer.train import TrainingData, pretrain

    records, feature_spec = _stored_images(tmp_path)
    runs = []

    def initial_weights(random_state):
        config = TrainingConfig(
            encoder={"depth": 10, "width_multiplier": 0.125, "image_size": 16, "stem": "small"},
            batch_size=4,
            epochs=0,
            random_state=random_state,
            sync_batch_norm=False,
        )
        tf.random.uniform([7])  # whatever ran before must not matter
        runs.append(tmp_path / f"run{len(runs)}")  # a checkpoint directory of its own: nothing to resume
        model = pretrain(config, TrainingData([records], feature_spec), str(runs[-1]), str(runs[-1]))
        return np.concatenate([v.numpy().ravel() for v in model.trainable_variables])

    first = initial_weights(random_state=0)
    np.testing.assert_array_equal(initial_weights(random_state=0), first)
    assert not np.allclose(initial_weights(random_state=1), first)


def test_checkpoints_are_keyed_by_what_shapes_the_weights(tmp_path):
    from types import SimpleNamespace

    from trainer import resumable

    def fn_args(execution=5, input_digest=None):
        return SimpleNamespace(
            model_run_dir=str(tmp_path / "Trainer" / "model_run" / str(execution + 2)),
            transform_output=str(tmp_path / "Transform" / "transform_graph" / str(execution)),
            train_files=[str(tmp_path / "Transform" / "transformed_examples" / str(execution) / "Split-train" / "*")],
            custom_config={"training": "{}", **({"input_digest": input_digest} if input_digest else {})},
        )

    def key(epochs=30, inputs=None, **encoder):
        config = TrainingConfig(epochs=epochs, encoder={"image_size": 32, **encoder})
        return resumable.checkpoint_dir(config.settings_that_shape_weights(), inputs or fn_args())

    assert key().startswith(str(tmp_path / "Trainer" / "checkpoints"))
    assert key(eval_image_size=48) == key()  # serving larger re-exports the same weights
    assert key(image_size=48) != key()
    assert key(epochs=40) != key()
    # Without a digest of the inputs, new input URIs are new inputs; with one, the URIs do not matter.
    assert key(inputs=fn_args(execution=9)) != key()
    assert key(inputs=fn_args(execution=9, input_digest="abc")) == key(inputs=fn_args(input_digest="abc"))
    assert key(inputs=fn_args(input_digest="abd")) != key(inputs=fn_args(input_digest="abc"))
    on_gcs = SimpleNamespace(**{**vars(fn_args()), "model_run_dir": "gs://bucket/root/Trainer/model_run/7"})
    assert key(inputs=on_gcs).startswith("gs://bucket/root/Trainer/checkpoints/")  # never a local gs:/ path
    # The pipeline names a root outside every run's folder.
    rooted = fn_args(input_digest="abc")
    rooted.custom_config["checkpoint_root"] = "gs://bucket/root/trainer_checkpoints"
    assert (
        key(inputs=rooted)
        == "gs://bucket/root/trainer_checkpoints/" + key(inputs=fn_args(input_digest="abc")).rsplit("/", 1)[1]
    )


def test_the_supervised_baseline_learns_from_labels_alone():
    from trainer import supervised
    from trainer.config import SupervisedBaselineConfig

    def pngs(colour, variant, count=12):
        noise = tf.random.stateless_uniform([count, 24, 24, 3], seed=(variant, 0), maxval=0.3)
        images = tf.image.convert_image_dtype(noise + tf.constant(colour, tf.float32), tf.uint8, saturate=True)
        return [tf.io.encode_png(image).numpy() for image in images]

    def labelled(variant):
        images = np.array(pngs([0.7, 0.0, 0.0], variant) + pngs([0.0, 0.0, 0.7], variant + 1), dtype=object)
        return tf.data.Dataset.from_tensor_slices((images, np.array([0] * 12 + [1] * 12)))

    config = TrainingConfig.model_validate(
        {
            "encoder": {
                "depth": 18,
                "width_multiplier": 0.125,
                "image_size": 16,
                "eval_image_size": 20,
                "stem": "small",
            },
            "augment": {"jitter_probability": 0.0, "grayscale_probability": 0.0, "blur_probability": 0.0},
            "sync_batch_norm": False,
        }
    )
    baseline = SupervisedBaselineConfig(steps=200, batch_size=8)
    batch_images, batch_labels = next(
        iter(supervised.augmented_batches(labelled(variant=1), 24, config, 8, random_state=0))
    )
    assert batch_images.shape == (8, 16, 16, 3) and set(batch_labels.numpy()) <= {0, 1}

    classifier = supervised.train_from_scratch(
        config, baseline, ([0.35] * 3, [0.3] * 3), labelled(variant=1), 24, num_classes=2, random_state=0
    )
    assert classifier.output_shape == (None, 2) and int(classifier.optimizer.iterations) == 200
    assert supervised.accuracy(classifier, labelled(variant=7), size=20) >= 0.9  # red vs blue: chance is 0.5


def test_attached_tpu_chips_win_over_tpu_name(monkeypatch):
    from trainer import distribute

    devices = []
    monkeypatch.setattr(distribute.glob, "glob", lambda pattern: devices if pattern.startswith("/dev/accel") else [])
    monkeypatch.delenv("TPU_NAME", raising=False)
    assert distribute.tpu_address() is None
    monkeypatch.setenv("TPU_NAME", "projects/p/locations/z/nodes/n")
    assert distribute.tpu_address() == "projects/p/locations/z/nodes/n"  # no chips here: the named node
    devices.append("/dev/accel0")
    assert distribute.tpu_address() == "local"  # chips attached: never the Cloud TPU API


def test_native_bf16_is_read_from_the_cpu_flags_and_absent_when_they_cannot_be_read(tmp_path):
    from trainer import distribute

    avx2 = tmp_path / "avx2"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw\nbugs\t\t: avx512_bf16\n")
    bf16 = tmp_path / "bf16"
    bf16.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    amx = tmp_path / "amx"
    amx.write_text("flags\t\t: avx2 amx_tile amx_bf16\n")
    assert not distribute.cpu_has_native_bf16(str(avx2))
    assert distribute.cpu_has_native_bf16(str(bf16)) and distribute.cpu_has_native_bf16(str(amx))
    assert not distribute.cpu_has_native_bf16(str(tmp_path / "missing"))


def test_bf16_auto_is_on_for_a_cpu_with_native_bf16_and_off_where_it_is_emulated_or_a_gpu_trains(monkeypatch):
    from trainer import distribute, train

    native, gpus = [True], []
    monkeypatch.setattr(distribute, "cpu_has_native_bf16", lambda: native[0])
    monkeypatch.setattr(train.tf.config, "list_logical_devices", lambda kind=None: gpus if kind == "GPU" else [])
    strategy = tf.distribute.get_strategy()
    auto, on, off = (TrainingConfig(bf16=value) for value in ("auto", "on", "off"))
    assert train.uses_bf16(auto, strategy) and train.uses_bf16(on, strategy) and not train.uses_bf16(off, strategy)
    native[0] = False  # AVX2 only: bfloat16 would be emulated, slower than float32
    assert not train.uses_bf16(auto, strategy) and train.uses_bf16(on, strategy)
    native[0], gpus[:] = True, ["GPU:0"]
    assert not train.uses_bf16(auto, strategy)


def test_the_trainer_names_its_inputs_by_the_data_they_hold_and_takes_its_count_from_ingestion(tmp_path):
    from tfx.types import standard_artifacts

    from components.training.resumable_trainer import with_input_digest
    from shared import contract
    from shared.records import IngestReport

    def settings(stored_size: int) -> dict:
        return {"ingest": {}, "validation": {}, "eval_split": "test", "transform": {"stored_size": stored_size}}

    def digest(fingerprint: str, run: str, stored_size: int = 32, encode=json.dumps) -> str:
        examples, ingested = standard_artifacts.Examples(), standard_artifacts.Examples()
        examples.uri = str(tmp_path / run / "examples")
        ingested.uri = str(tmp_path / run / "ingested")
        ingested.set_string_custom_property(contract.INPUT_FINGERPRINT, fingerprint)  # as ImageExampleGen records it
        splits = {"train": {"written": 1250, "rejected": 0}, "test": {"written": 250, "rejected": 0}}
        IngestReport.model_validate(
            {
                **{"input": "/data", "classes": ["cat"], "split_folders": {}, "splits": splits, "found": 1500},
                **{"written": 1500, "rejected_total": 0, "rejected": [], "ignored": [], "warnings": []},
                **{"duplicates": [], "cross_split_duplicates": []},
            }
        ).write(str(tmp_path / run / "ingested" / contract.INGEST_REPORT_FILE))
        config = {"training": "{}", "input_settings": settings(stored_size)}
        properties = with_input_digest(
            {"examples": [examples], "ingested": [ingested]},
            {"custom_config": encode(config), "run_fn": "f"},
        )
        assert properties["run_fn"] == "f"
        custom_config = properties["custom_config"]
        custom_config = json.loads(custom_config) if isinstance(custom_config, str) else custom_config
        assert custom_config["training"] == "{}"
        assert custom_config["train_images"] == 1250  # counted at ingestion, never by reading the split again
        return custom_config["input_digest"]

    assert digest("abc", run="run-1") == digest("abc", run="run-2")  # new URIs, same content
    assert digest("abc", run="run-1") != digest("abd", run="run-1")
    assert digest("abc", run="run-1") != digest("abc", run="run-1", stored_size=64)
    assert digest("abc", run="run-1", encode=dict) == digest("abc", run="run-1")  # a dict stays a dict


def test_the_knn_monitor_embeds_a_bounded_sample_in_reading_order_and_traces_once_for_every_call(tmp_path):
    from trainer import data
    from trainer.model import SimCLR
    from trainer.train import embed_sample

    records, feature_spec = _stored_images(tmp_path, count=6)
    config = TrainingConfig(
        encoder={"depth": 10, "width_multiplier": 0.125, "image_size": 16, "stem": "small"},
        batch_size=4,
        sync_batch_norm=False,
    )
    model = SimCLR.create(config, tf.distribute.get_strategy(), [0.5] * 3, [0.25] * 3, 1, 1)

    features, labels = embed_sample(model, [records], feature_spec, size=16, limit=4)

    images, _ = next(iter(data.evaluation_dataset([records], feature_spec, 16)))
    assert features.shape == (4, model.encoder.output_shape[-1]) and labels.tolist() == [-1] * 4
    np.testing.assert_allclose(features, model.encoder(images[:4], training=False).numpy(), rtol=1e-4, atol=1e-5)

    for limit in (5, 6, 3, 4):  # every monitor epoch embeds again, a last batch may be short
        embed_sample(model, [records], feature_spec, size=16, limit=limit)
    assert model.replica_features.experimental_get_tracing_count() == 2  # the first shape, then any batch size


@pytest.mark.parametrize("cache", [True, False], ids=["cached", "streamed"])
def test_every_epoch_is_a_new_order_of_every_image_and_a_resume_continues_at_the_same_image(tmp_path, cache):
    import hashlib

    from trainer import data

    stored = [_stored_images(tmp_path, count=5, variant=variant) for variant in range(3)]  # 15 images in 3 files
    files, feature_spec = [path for path, _ in stored], stored[0][1]
    config = TrainingConfig(
        encoder={"depth": 10, "width_multiplier": 0.125, "image_size": 16, "stem": "small"},
        batch_size=4,
        shuffle_buffer=6,
    )

    def image_ids(start_step: int, count: int) -> list:
        stream = data.image_stream(files, feature_spec, config, 15, cache, skip_images=start_step * config.batch_size)
        return [hashlib.sha256(image.numpy().tobytes()).hexdigest() for image in stream.take(count)]

    whole = image_ids(0, 45)
    epochs = [whole[start : start + 15] for start in (0, 15, 30)]
    assert len(set(epochs[0])) == 15 and all(sorted(epoch) == sorted(epochs[0]) for epoch in epochs)
    assert epochs[0] != epochs[1] != epochs[2]
    assert image_ids(5, 20) == whole[20:40]  # 5 steps of 4: epoch 2, 5 images in
    assert image_ids(0, 45) == whole  # the order is fixed by the random state


def test_distillation_teaches_the_student_the_teachers_class_probabilities():
    from trainer.distill import Distiller

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(5)
    points = rng.normal(size=(256, 8)).astype("float32")
    teacher = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    teacher.layers[0].set_weights([rng.normal(size=(8, 3)).astype("float32") * 3, np.zeros(3, "float32")])
    student = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    distiller = Distiller(student, teacher, temperature=1.0)
    distiller.compile(optimizer=keras.optimizers.Adam(0.05))
    labels = np.full(len(points), -1)  # unlabelled: distillation never reads them
    history = distiller.fit(points, labels, batch_size=64, epochs=60, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    agreement = np.mean(np.argmax(student(points), 1) == np.argmax(teacher(points), 1))
    assert agreement > 0.95 and history.history["agreement"][-1] > 0.9
    assert not teacher.trainable and len(distiller.trainable_variables) == len(student.trainable_variables)
