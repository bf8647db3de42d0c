"""The SimCLR trainer for real: multi-replica equivalence, resume after SIGKILL, the exported SavedModel."""

import glob
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow(minutes=7)

WORKERS = pathlib.Path(__file__).parent / "workers"
ROOT = pathlib.Path(__file__).parent.parent


def _worker_env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.mark.parametrize("mode", ["sync multicrop", "nosync"])  # multicrop: the two large views and the small ones
def test_two_replicas_equal_one_device_on_the_same_global_batch(mode):
    result = subprocess.run(
        [sys.executable, str(WORKERS / "replica_equivalence.py"), *mode.split()],
        capture_output=True,
        text=True,
        env=_worker_env(),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    if mode.startswith("sync"):
        assert report["loss_mirrored"] == pytest.approx(report["loss_single"], rel=1e-5)
        assert report["accuracy_mirrored"] == report["accuracy_single"]
        assert report["max_relative_gradient_error"] < 1e-4
        assert report["max_weight_error_after_step"] < 1e-4
    else:  # control: per-replica BN statistics change the result, so the check above can fail
        assert report["max_relative_gradient_error"] > 1e-2


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def test_two_hosts_read_disjoint_files_and_take_the_step_one_process_takes_on_their_batches(tmp_path):
    """MultiWorkerMirroredStrategy over two local processes: each host reads its own files
    (distribute_datasets_from_function), and the all-reduced step equals one device's on both batches."""
    script = str(WORKERS / "multi_worker_input.py")
    subprocess.run([sys.executable, script, "write", str(tmp_path)], check=True, env=_worker_env(), timeout=300)
    ports = f"{_free_port()},{_free_port()}"
    workers = [
        subprocess.Popen(
            [sys.executable, script, "worker", str(index), ports, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_worker_env(),
        )
        for index in range(2)
    ]
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    single = subprocess.run(
        [sys.executable, script, "single", str(tmp_path)],
        capture_output=True,
        text=True,
        env=_worker_env(),
        timeout=600,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    alone = json.loads(single.stdout.strip().splitlines()[-1])

    assert [(r["pipeline"], r["pipelines"], r["replicas"]) for r in reports] == [(0, 2, 2), (1, 2, 2)]
    assert reports[0]["files"] == ["part-0.gz", "part-2.gz"] and reports[1]["files"] == ["part-1.gz", "part-3.gz"]
    assert not set(reports[0]["first_batch"]) & set(reports[1]["first_batch"])
    assert alone["first_batch"] == reports[0]["first_batch"] + reports[1]["first_batch"]
    assert reports[0]["loss"] == reports[1]["loss"] == pytest.approx(alone["loss"], rel=1e-5)


def _latest_checkpoint_step(checkpoints) -> int:
    """The step of the checkpoint CheckpointManager names as latest (its pointer file is replaced atomically).

    Waiting for a ckpt-N.index file is not enough: a kill between that file and the pointer
    update rightly resumes from the checkpoint before.
    """
    for pointer in glob.glob(str(checkpoints / "*" / "checkpoint")):
        match = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', open(pointer).read(), re.MULTILINE)
        if match:
            return int(match.group(1))
    return 0


def test_a_killed_run_resumes_from_its_last_checkpoint(smoke_pipeline, tmp_path):
    run = smoke_pipeline.run
    outputs = run.latest_outputs("Transform")
    steps = 24
    training = json.dumps(
        {
            "encoder": {"depth": 10, "width_multiplier": 0.25, "image_size": 32, "stem": "small"},
            "head": {"widths": [16, 8]},
            "batch_size": 4,
            "epochs": 100,
            "max_steps": steps,  # killed at step 6 or soon after: the second run trains the rest
            "checkpoint_every_steps": 3,
        }
    )
    command = [
        sys.executable,
        str(WORKERS / "train_until_killed.py"),
        outputs["transform_graph"][0].uri,
        outputs["transformed_examples"][0].uri,
        str(tmp_path),
        training,
    ]
    checkpoints = tmp_path / "Trainer" / "checkpoints"
    first = subprocess.Popen(command, env=_worker_env(), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while _latest_checkpoint_step(checkpoints) < 6:
        assert first.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL

    second = subprocess.run(command, env=_worker_env(), capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    resumed = [line for line in second.stderr.splitlines() if line.startswith("resumed from")]
    assert len(resumed) == 1
    resumed_step = int(resumed[0].rsplit(" ", 1)[1])
    assert resumed_step >= 6 and resumed_step % 3 == 0 and resumed_step < steps
    epochs = [line for line in second.stderr.splitlines() if line.startswith("epoch ")]
    assert epochs[-1].split()[3] == f"{steps}/{steps}"
    assert f"step {resumed_step}/" not in "".join(epochs)  # no step is trained twice in the second run
    history = json.loads((tmp_path / "Trainer" / "model_run" / "1" / "history.json").read_text())
    assert history[-1]["step"] == steps


def test_saved_model_embeds_a_jpeg_in_a_fresh_process(smoke_pipeline, tmp_path):
    from conftest import write_image

    run = smoke_pipeline.run
    model_dir = os.path.join(run.latest_outputs("Trainer")["model"][0].uri, "Format-Serving")
    jpeg = write_image(tmp_path / "query.jpg", variant=7, size=(50, 40), image_format="JPEG")
    png = write_image(tmp_path / "other.png", variant=8, size=(30, 45))
    script = f"""
import json, tensorflow as tf
model = tf.saved_model.load({model_dir!r})
images = tf.constant([open({str(jpeg)!r}, 'rb').read(), open({str(png)!r}, 'rb').read()])
embedding = model.signatures['serving_default'](image_bytes=images)['embedding'].numpy()
again = model.signatures['serving_default'](image_bytes=images[:1])['embedding'].numpy()
projection = model.signatures['projection'](image_bytes=images)['projection'].numpy()
encoded = [list(model.encode(tf.zeros([n, side, side, 3])).shape) for n, side in ((1, 24), (3, 40))]
print(json.dumps({{'signatures': sorted(model.signatures), 'embedding': embedding.tolist(), 'again': again.tolist(),
                   'projection_shape': list(projection.shape), 'encoded_shapes': encoded}}))
"""
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["signatures"] == ["projection", "serving_default"]
    embedding = out["embedding"]
    assert len(embedding) == 2 and len(embedding[0]) == 64  # ResNet-18 at width 0.125: 512 / 8 features
    assert embedding[0] != embedding[1]
    assert out["again"][0] == pytest.approx(embedding[0], rel=1e-5, abs=1e-6)
    assert out["projection_shape"] == [2, 8]
    assert out["encoded_shapes"] == [[1, 64], [3, 64]]  # the encoder alone, on views of any size


def test_training_leaves_its_monitoring_artifacts(smoke_pipeline):
    run = smoke_pipeline.run
    model_run = run.latest_outputs("Trainer")["model_run"][0].uri
    history = json.loads(open(os.path.join(model_run, "history.json")).read())
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(0.0 <= h["knn_top1"] <= 1.0 and h["loss"] > 0 for h in history)
    assert open(os.path.join(model_run, "loss_curve.png"), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert glob.glob(os.path.join(model_run, "events.out.tfevents.*"))
    assert glob.glob(os.path.join(model_run, "final_checkpoint", "ckpt.index"))
    pretraining = smoke_pipeline.summary["pretraining"]
    assert pretraining["final_epoch"] == history[-1] and pretraining["loss_curve"].endswith("loss_curve.png")
    assert os.path.isfile(os.path.join(pretraining["model"], "saved_model.pb"))


def conv_dtypes(saved_model_dir: str) -> set:
    """The dtype of every convolution in a SavedModel's graphs and their functions."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString(open(os.path.join(saved_model_dir, "saved_model.pb"), "rb").read())
    graph = saved.meta_graphs[0].graph_def
    nodes = list(graph.node) + [node for function in graph.library.function for node in function.node_def]
    return {node.attr["T"].type for node in nodes if node.op in ("Conv2D", "DepthwiseConv2dNative")}


def test_a_bf16_trained_encoder_is_served_in_float32_with_the_embeddings_it_trained_to(smoke_pipeline, tmp_path):
    import numpy as np
    import tensorflow as tf
    import tensorflow_transform as tft
    import tf_keras as keras

    from trainer.config import TrainingConfig
    from trainer.export import export_encoder
    from trainer.train import TrainingData, pretrain

    outputs = smoke_pipeline.run.latest_outputs("Transform")
    transform_dir = outputs["transform_graph"][0].uri
    train_files = glob.glob(os.path.join(outputs["transformed_examples"][0].uri, "Split-train", "*"))
    config = TrainingConfig(
        encoder={"depth": 10, "width_multiplier": 0.125, "image_size": 32, "stem": "small"},
        head={"widths": [16, 8]},
        batch_size=4,
        epochs=1,
        max_steps=2,
        bf16="on",  # CPU runs bfloat16 too: what a TPU-trained model brings to the export
        sync_batch_norm=False,
        optimizer={"warmup_epochs": 0},
    )
    feature_spec = tft.TFTransformOutput(transform_dir).transformed_feature_spec()
    model = pretrain(config, TrainingData(train_files, feature_spec), str(tmp_path / "ckpt"), str(tmp_path / "logs"))
    assert int(model.optimizer.iterations) == 2
    trained_convs = {m.compute_dtype for m in model.encoder.submodules if isinstance(m, keras.layers.Conv2D)}
    assert trained_convs == {"bfloat16"}  # as it trained
    assert keras.mixed_precision.global_policy().name == "float32"  # what runs next in this process is float32
    export_encoder(model, transform_dir, str(tmp_path / "export"))

    assert conv_dtypes(str(tmp_path / "export")) == {tf.float32.as_datatype_enum}
    images = tf.random.stateless_uniform([3, 32, 32, 3], seed=[0, 1])
    loaded = tf.saved_model.load(str(tmp_path / "export"))  # held: its functions read its variables
    served = loaded.encode(images).numpy()
    trained = tf.cast(model.encoder(images, training=False), tf.float32).numpy()
    # bfloat16 keeps 8 bits of mantissa (relative error up to 2^-8 per operation): the two agree in direction
    # (cosine >= 0.99) and to within 5 % of the largest feature, far below what tells images apart.
    cosine = np.sum(served * trained, 1) / (np.linalg.norm(served, axis=1) * np.linalg.norm(trained, axis=1))
    assert cosine.min() >= 0.99, cosine
    assert np.abs(served - trained).max() <= 0.05 * np.abs(trained).max()
