"""Ingestion through the real TFX pipeline (LocalDagRunner, DirectRunner, SQLite MLMD) via the CLI."""

import glob
import json
import os
import shutil

import apache_beam as beam
import pytest
import tensorflow as tf

from components.ingest import image_example_gen, image_folder
from pipeline import cli
from pipeline.commands import printing

pytestmark = pytest.mark.slow(minutes=1.5)


def _run_cli(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _read_examples(examples_uri, split):
    files = glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz"))
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _feature(example, key):
    value = example.features.feature[key]
    return value.bytes_list.value[0].decode() if value.bytes_list.value else value.int64_list.value[0]


@pytest.fixture(scope="module")
def messy_dataset(tmp_path_factory):
    """An ImageFolder dataset with one of every kind of bad file, a duplicate and a train/test leak."""
    from conftest import write_image

    root = tmp_path_factory.mktemp("messy") / "data"
    good = [
        (split, label, n)
        for split, count in (("train", 4), ("test", 2))
        for label in ("cat", "dog")
        for n in range(count)
    ]
    for index, (split, label, n) in enumerate(good):  # distinct seeds: only the copies below are duplicates
        write_image(root / split / label / f"{n}.jpg", variant=100 + index)
    write_image(root / "train" / "cat" / "gray.png", variant=1, mode="L")
    write_image(root / "train" / "dog" / "icon.gif", variant=2, mode="P")
    bad = {
        "train/cat/empty.jpg": "empty file",
        "train/cat/notes.jpg": "not an image",
        "train/dog/truncated.jpg": "corrupt or truncated",
        "train/cat/huge.png": "too large",
        "train/dog/dangling.jpg": "unreadable",
        "test/stray.jpg": "cannot tell the class",
    }
    (root / "train/cat/empty.jpg").write_bytes(b"")
    (root / "train/cat/notes.jpg").write_text("not a picture")
    full = write_image(root / "train/dog/full.jpg", variant=3, size=(300, 200)).read_bytes()
    (root / "train/dog/full.jpg").unlink()
    (root / "train/dog/truncated.jpg").write_bytes(full[: len(full) // 2])
    write_image(root / "train/dog/mislabelled.png", variant=4, image_format="JPEG")
    write_image(root / "train/cat/huge.png", variant=5, size=(1100, 1000))
    os.symlink(root / "nowhere.jpg", root / "train/dog/dangling.jpg")
    write_image(root / "test/stray.jpg", variant=6)
    shutil.copy(root / "train/cat/0.jpg", root / "train/cat/copy.jpg")
    shutil.copy(root / "train/dog/0.jpg", root / "test/dog/leaked.jpg")
    (root / "README.md").write_text("about this dataset")
    return root, bad


@pytest.fixture(scope="module")
def messy_ingest(messy_dataset, tmp_path_factory):
    root, _ = messy_dataset
    output = tmp_path_factory.mktemp("messy-run")
    config = output / "config.yaml"
    config.write_text(
        "pipeline_name: messy\nbeam_args: [--direct_num_workers=1]\n"
        "ingest: {max_pixels: 1000000, max_reject_fraction: 1.0, beam_args: [--direct_num_workers=1]}\n"
        "validation: {required_splits: [train, test]}\n"
    )
    graphs = []  # every Beam job graph, as a runner (Dataflow) would receive it
    run = beam.Pipeline.run

    def recording_run(pipeline, *args, **kwargs):
        graphs.append(pipeline.to_runner_api().SerializeToString())
        return run(pipeline, *args, **kwargs)

    listings = output / "listings.txt"  # every listing of the folder's files; a file, as Beam pickles the function
    iter_files = image_folder.iter_files

    def recording_iter_files(folder):
        with open(listings, "a") as handle:
            handle.write(folder + "\n")
        return iter_files(folder)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(beam.Pipeline, "run", recording_run)
        patch.setattr(image_folder, "iter_files", recording_iter_files)
        code = cli.main(["ingest", "--config", str(config), "--data", str(root), "--output", str(output), "--json"])
    return code, output, graphs, listings.read_text().splitlines()


def test_every_file_is_written_or_rejected_with_its_reason(messy_dataset, messy_ingest):
    root, bad = messy_dataset
    code = messy_ingest[0]
    assert code == 0
    report = json.load(
        open(glob.glob(str(messy_ingest[1] / "pipeline_root/ImageExampleGen/examples/*/ingest_report.json"))[0])
    )
    found = [p for p in image_folder.list_files(str(root)) if p != "README.md"]
    assert report["found"] == len(found) == report["written"] + report["rejected_total"]
    rejected = {r["path"]: r["reason"] for r in report["rejected"]}
    assert set(rejected) == set(bad)
    for path, reason in bad.items():
        assert reason in rejected[path], (path, rejected[path])
    assert report["splits"]["train"] == {"written": 4 * 2 + 2 + 1 + 1, "rejected": 5}
    assert report["splits"]["test"] == {"written": 2 * 2 + 1, "rejected": 1}
    assert report["ignored"] == [{"path": "README.md", "reason": "beside the split folders ['test', 'train']"}]
    # A JPEG named .png is a valid image: written as JPEG, listed with a warning.
    assert report["warnings"] == [
        {
            "path": "train/dog/mislabelled.png",
            "split": "train",
            "reason": "extension '.png' but JPEG content: read as JPEG",
        }
    ]


def test_the_ingestion_job_graph_carries_no_file_names(messy_dataset, messy_ingest):
    """Beam lists the files in a worker: a million file names would not fit in a Dataflow job request."""
    _, _, graphs, _ = messy_ingest
    assert graphs
    for name in ("mislabelled.png", "truncated.jpg", "copy.jpg"):
        assert not any(name.encode() in graph for graph in graphs), name


def test_the_folder_is_listed_once_for_its_fingerprint_and_once_by_the_beam_job(messy_dataset, messy_ingest):
    root, _ = messy_dataset
    assert messy_ingest[3] == [str(root), str(root)]


@pytest.mark.parametrize(
    "folders, buckets, num_shards, expected",
    [
        ({"train": 600 * 2**20, "val": 40 * 2**20, "": 10}, {"train": 1}, 0, {"train": 4, "test": 1}),
        ({"": 1500 * 2**20}, {"train": 4, "test": 1}, 0, {"train": 8, "test": 2}),
        ({"": 1500 * 2**20}, {"train": 4, "test": 1}, 3, {"train": 3, "test": 3}),
        ({}, {"train": 4, "test": 1}, 0, {"train": 1, "test": 1}),
        (
            {"train": 600 * 2**20, "test": 40 * 2**20, "unlabelled": 900 * 2**20},
            {"train": 1},
            0,
            {"train": 4, "test": 1, "unlabelled": 6},
        ),
        (
            {"": 1500 * 2**20, "unlabelled": 300 * 2**20},
            {"train": 4, "test": 1},
            0,
            {"train": 8, "test": 2, "unlabelled": 2},
        ),
    ],
)
def test_shards_hold_about_150_mb_of_images_unless_num_shards_is_set(folders, buckets, num_shards, expected):
    split_folders = tuple(sorted(name for name in folders if name and name != "unlabelled"))
    layout = image_folder.Layout(
        "gs://b/d",
        split_folders,
        renamed=(("val", "test"),) if "val" in folders else (),
        unlabelled_folder="unlabelled" if "unlabelled" in folders else None,
    )
    names = image_folder.split_names(layout, buckets)
    assert image_example_gen.shard_counts(layout, names, buckets, num_shards, folders) == expected
    # On the DirectRunner the runner chooses (0) unless num_shards is set: a fixed count is a shuffle in memory.
    assert image_example_gen.shard_counts(layout, names, buckets, num_shards, folders, sized=False) == {
        name: num_shards for name in names
    }


def test_duplicates_and_train_test_leakage_are_reported(messy_ingest):
    report = json.load(
        open(glob.glob(str(messy_ingest[1] / "pipeline_root/ImageExampleGen/examples/*/ingest_report.json"))[0])
    )
    groups = sorted(sorted(c["path"] for c in d["copies"]) for d in report["duplicates"])
    assert groups == [["test/dog/leaked.jpg", "train/dog/0.jpg"], ["train/cat/0.jpg", "train/cat/copy.jpg"]]
    assert [sorted(c["split"] for c in d["copies"]) for d in report["cross_split_duplicates"]] == [["test", "train"]]


def test_examples_are_gzipped_tfrecords_with_stable_class_ids(messy_ingest):
    from pipeline.local_runner import LocalRun

    examples = LocalRun(str(messy_ingest[1]), "messy").latest_outputs("ImageExampleGen")["examples"][0]
    assert json.loads(examples.custom_properties["classes"].string_value) == ["cat", "dog"]
    train = _read_examples(examples.uri, "train")
    assert len(train) == examples.custom_properties["written"].int_value - 5
    assert {(_feature(e, "label"), _feature(e, "label_id")) for e in train} == {("cat", 0), ("dog", 1)}
    by_path = {_feature(e, "relative_path"): e for e in train}
    assert _feature(by_path["train/dog/icon.gif"], "image_format") == "png"
    assert (
        tf.io.decode_image(by_path["train/cat/gray.png"].features.feature["image_bytes"].bytes_list.value[0]).shape[-1]
        == 3
    )


def test_validation_artifacts_exist(messy_ingest):
    from pipeline.local_runner import LocalRun

    run = LocalRun(str(messy_ingest[1]), "messy")
    assert run.latest_outputs("StatisticsGen")["statistics"]
    schema = run.latest_outputs("SchemaGen")["schema"][0]
    assert "cat" in open(os.path.join(schema.uri, "schema.pbtxt")).read()
    assert run.latest_outputs("ExampleValidator")["anomalies"]


def test_too_many_rejects_fail_with_one_line_naming_the_report(messy_dataset, tmp_path, capsys, write_config):
    root, _ = messy_dataset
    config = write_config(ingest={"max_pixels": 1_000_000})
    code, out, err = _run_cli(
        capsys, "ingest", "--config", config, "--data", str(root), "--output", str(tmp_path / "run")
    )
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("simclr-tfx: error: "))
    message, listed = lines[start], lines[start + 1 :]
    # 6 of the 7 bad files: the JPEG named .png is a valid image, written with a warning.
    assert message.startswith("simclr-tfx: error: 6 of 23 files in") and "max_reject_fraction 5.0%" in message
    kept = message.rsplit(" ", 1)[-1]
    assert kept.endswith("ingest_report.json") and os.path.isfile(kept)  # still there after TFX's clean-up
    report = json.load(open(kept))
    assert [f"  {r['path']}: {r['reason']}" for r in report["rejected"]] == listed  # fewer than 20: all of them
    assert len(listed) == 6 and any("dangling.jpg: unreadable" in line for line in listed)


def test_hash_split_without_split_folders_is_deterministic_and_sharded_as_configured(
    tmp_path, capsys, write_config, image_factory
):
    root = tmp_path / "flat"
    for n in range(12):
        image_factory(root / f"{('cat', 'dog')[n % 2]}_{n}.png", variant=100 + n)
    config = write_config(ingest={"split_buckets": {"train": 3, "test": 1}, "num_shards": 2})
    code, out, _ = _run_cli(
        capsys, "ingest", "--config", config, "--data", str(root), "--output", str(tmp_path / "r"), "--json"
    )
    assert code == 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert sum(s["written"] for s in summary["splits"].values()) == 12
    for split in ("train", "test"):
        assert len(glob.glob(f"{summary['output']}/Split-{split}/*.gz")) == 2  # ingest.num_shards
        for example in _read_examples(summary["output"], split):
            assert image_folder.hash_split(_feature(example, "sha256"), {"train": 3, "test": 1}) == split


def test_a_single_class_fails_cleanly(tmp_path, capsys, write_config, image_factory):
    for n in range(3):
        image_factory(tmp_path / "one" / "train" / f"cat_{n}.jpg", variant=n)
    code, _, err = _run_cli(
        capsys, "ingest", "--config", write_config(), "--data", str(tmp_path / "one"), "--output", str(tmp_path / "r")
    )
    assert code == 2 and "1 class(es) ['cat']" in err and "Traceback" not in err


def test_curated_schema_catches_a_new_class_and_a_missing_split(
    messy_ingest, tmp_path, capsys, write_config, image_factory
):
    curated = tmp_path / "schema.pbtxt"
    code, _, err = _run_cli(
        capsys,
        "schema",
        "export",
        "--config",
        str(messy_ingest[1] / "config.yaml"),
        "--output",
        str(messy_ingest[1]),
        "--to",
        str(curated),
    )
    assert code == 0, err
    assert 'name: "label"' in curated.read_text() and "train/cat/0.jpg" not in curated.read_text()
    root = tmp_path / "retrain"
    for n in range(4):
        for index, label in enumerate(("cat", "dog", "horse")):
            image_factory(root / "train" / label / f"{n}.jpg", variant=10 * n + index)
    config = write_config(validation={"schema_path": str(curated), "required_splits": ["train", "test"]})
    code, _, err = _run_cli(capsys, "ingest", "--config", config, "--data", str(root), "--output", str(tmp_path / "r"))
    assert code == 2 and "Traceback" not in err
    message = err.strip().splitlines()[-1]
    assert "data validation failed: required split 'test' is missing" in message and "more" in message

    (root / "test").mkdir()
    shutil.copytree(root / "train" / "cat", root / "test" / "cat")
    code, _, err = _run_cli(capsys, "ingest", "--config", config, "--data", str(root), "--output", str(tmp_path / "r"))
    assert code == 2
    assert "feature 'label'" in err.strip().splitlines()[-1] and "horse" in err


def test_a_train_and_val_layout_ingests_with_val_as_the_test_split(tmp_path, capsys, write_config, image_factory):
    """ImageNet's layout: no test/ folder, so val/ is the split that evaluation reads, and the output says so."""
    root = tmp_path / "imagenet-like"
    for n, (folder, label) in enumerate((f, c) for f in ("train", "train", "val") for c in ("n01440764", "n01443537")):
        image_factory(root / folder / label / f"{label}_{n}.JPEG", variant=300 + n, image_format="JPEG")
    code, out, err = _run_cli(
        capsys, "ingest", "--config", write_config(), "--data", str(root), "--output", str(tmp_path / "r"), "--json"
    )
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["split_folders"] == {"train": "train", "test": "val"}
    printing.ingest_table(summary)
    table = capsys.readouterr().out
    assert "(from folder val/)" in next(line for line in table.splitlines() if line.startswith("test "))
    assert {split: counts["written"] for split, counts in summary["splits"].items()} == {"train": 4, "test": 2}
    test_paths = {_feature(e, "relative_path") for e in _read_examples(summary["output"], "test")}
    assert test_paths == {"val/n01440764/n01440764_4.JPEG", "val/n01443537/n01443537_5.JPEG"}


def test_a_flat_val_folder_ingests_with_the_classes_of_its_labels_file(tmp_path, capsys, write_config, image_factory):
    root = tmp_path / "imagenet-like"
    for n, label in enumerate(("n01440764", "n01443537") * 2):
        image_factory(root / "train" / label / f"{label}_{n}.JPEG", variant=400 + n, image_format="JPEG")
    rows = ["relative_path,class"]
    for n, label in enumerate(("n01443537", "n01440764", "n01443537"), start=1):
        image_factory(root / "val" / f"ILSVRC2012_val_{n:08d}.JPEG", variant=500 + n, image_format="JPEG")
        rows.append(f"val/ILSVRC2012_val_{n:08d}.JPEG,{label}")
    image_factory(root / "val" / "ILSVRC2012_val_00000004.JPEG", variant=504, image_format="JPEG")  # not listed
    (root / "val_labels.csv").write_text("\n".join(rows) + "\n")
    config = write_config(ingest={"labels_file": str(root / "val_labels.csv"), "max_reject_fraction": 0.5})
    code, out, err = _run_cli(
        capsys, "ingest", "--config", config, "--data", str(root), "--output", str(tmp_path / "r"), "--json"
    )
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["classes"] == ["n01440764", "n01443537"]
    labels = {_feature(e, "relative_path"): _feature(e, "label") for e in _read_examples(summary["output"], "test")}
    assert labels == {
        "val/ILSVRC2012_val_00000001.JPEG": "n01443537",
        "val/ILSVRC2012_val_00000002.JPEG": "n01440764",
        "val/ILSVRC2012_val_00000003.JPEG": "n01443537",
    }
    report = json.load(open(os.path.join(summary["output"], "ingest_report.json")))
    assert [(r["path"], r["reason"]) for r in report["rejected"]] == [
        ("val/ILSVRC2012_val_00000004.JPEG", "in no class folder and not in ingest.labels_file")
    ]
    assert [(r["path"], r["reason"]) for r in report["ignored"]] == [
        ("val_labels.csv", "the labels file (ingest.labels_file)")
    ]


def test_a_run_requires_the_eval_split_at_the_anomaly_gate_and_ingestion_alone_does_not(tmp_path):
    """A dataset without an evaluation split stops at AnomalyGate with one line, before any training."""
    from pipeline.config import load_config
    from pipeline.pipeline import create_pipeline

    config = load_config("smoke")

    def required(until):
        (gate,) = [c for c in create_pipeline(config, str(tmp_path), until=until).components if c.id == "AnomalyGate"]
        return json.loads(gate.exec_properties["required_splits"])

    assert required("push") == ["test", "train"] and required("ingest") == ["train"]
    from components.errors import DataError
    from components.ingest.anomaly_gate import check_examples

    with pytest.raises(DataError) as error:
        check_examples(str(tmp_path), ["train"], ["test", "train"])
    assert "required split 'test' is missing (found ['train']): add a test/ folder" in str(error.value)
    assert "\n" not in str(error.value)
