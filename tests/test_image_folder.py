"""Dataset planning: layouts, splits, classes, ignored files and user errors."""

import collections

import pytest

from components.errors import DataError
from components.ingest import image_folder


def _touch(root, *relative_paths):
    for rel in relative_paths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_prefix_layout_with_split_folders(tmp_path):
    _touch(tmp_path, "train/cat_1.jpg", "train/dog_a_b.jpg", "test/cat_9.png", "README.md")
    plan = image_folder.plan_dataset(str(tmp_path))
    assert plan.has_split_folders
    assert plan.classes == ("cat", "dog")
    assert {(f.relative_path, f.split, f.label) for f in plan.files} == {
        ("train/cat_1.jpg", "train", "cat"),
        ("train/dog_a_b.jpg", "train", "dog"),
        ("test/cat_9.png", "test", "cat"),
    }
    assert [(i.relative_path, "beside the split folders" in i.reason) for i in plan.ignored] == [("README.md", True)]


def test_image_folder_layout_with_validation_split(tmp_path):
    _touch(tmp_path, "train/zebra/1.jpg", "train/ant/2.jpg", "validation/ant/3.jpg", "train/ant/deeper/4.jpg")
    plan = image_folder.plan_dataset(str(tmp_path))
    assert plan.classes == ("ant", "zebra")
    assert plan.class_ids == {"ant": 0, "zebra": 1}
    labels = {f.relative_path: (f.split, f.label) for f in plan.files}
    assert labels["validation/ant/3.jpg"] == ("test", "ant")  # no test/ folder: validation/ is the eval split
    assert labels["train/ant/deeper/4.jpg"] == ("train", "ant")


def test_without_split_folders_the_split_is_left_for_the_hash(tmp_path):
    _touch(tmp_path, "cat/1.jpg", "dog/2.jpg", ".DS_Store", "dog/.hidden.jpg")
    plan = image_folder.plan_dataset(str(tmp_path))
    assert not plan.has_split_folders
    assert all(f.split is None for f in plan.files)
    assert sorted(i.relative_path for i in plan.ignored) == [".DS_Store", "dog/.hidden.jpg"]


def test_a_file_without_a_class_is_planned_as_a_rejection(tmp_path):
    _touch(tmp_path, "train/cat_1.jpg", "train/dog_2.jpg", "train/nolabel.jpg")
    plan = image_folder.plan_dataset(str(tmp_path))
    problems = {f.relative_path: f.problem for f in plan.files if f.problem}
    assert list(problems) == ["train/nolabel.jpg"]
    assert "cannot tell the class" in problems["train/nolabel.jpg"]


def test_class_separator_is_configurable(tmp_path):
    _touch(tmp_path, "train/cat-1.jpg", "train/dog-2.jpg")
    assert image_folder.plan_dataset(str(tmp_path), class_separator="-").classes == ("cat", "dog")


@pytest.mark.parametrize(
    "files, message",
    [
        ((), "has no files"),
        (("train/cat_1.jpg", "train/cat_2.jpg"), "1 class(es) ['cat']"),
        ((".hidden",), "has no files"),
    ],
)
def test_user_errors_name_the_path(tmp_path, files, message):
    _touch(tmp_path, *files)
    with pytest.raises(DataError) as error:
        image_folder.plan_dataset(str(tmp_path))
    assert message in str(error.value) and str(tmp_path) in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_path_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        image_folder.plan_dataset(str(tmp_path / "nope"))


def test_hash_split_is_deterministic_and_follows_the_buckets():
    buckets = {"train": 8, "test": 2}
    keys = [f"key-{i}" for i in range(4000)]
    first = [image_folder.hash_split(k, buckets) for k in keys]
    assert first == [image_folder.hash_split(k, dict(reversed(buckets.items()))) for k in keys]
    share = collections.Counter(first)["test"] / len(keys)
    assert 0.17 < share < 0.23


def test_fingerprint_changes_with_the_files(tmp_path):
    _touch(tmp_path, "train/cat_1.jpg", "train/dog_2.jpg")
    before = image_folder.fingerprint(str(tmp_path))
    assert before == image_folder.fingerprint(str(tmp_path))
    (tmp_path / "train" / "dog_3.jpg").write_bytes(b"yy")
    added = image_folder.fingerprint(str(tmp_path))
    assert added != before
    (tmp_path / "train" / "dog_3.jpg").rename(tmp_path / "train" / "dog_4.jpg")  # same size and time
    assert image_folder.fingerprint(str(tmp_path)) not in (before, added)
    (tmp_path / "train" / "dog_4.jpg").unlink()
    assert image_folder.fingerprint(str(tmp_path)) == before


@pytest.mark.parametrize(
    "folders, eval_split, expected",
    [
        (("train", "val"), "test", {"train": "train", "val": "test"}),  # ImageNet's layout
        (("train", "validation"), "test", {"train": "train", "validation": "test"}),
        (("train", "test", "val"), "test", {"train": "train", "test": "test", "val": "val"}),  # test/ is test
        (("train", "test"), "val", {"train": "train", "test": "val"}),  # eval_split: val, found as test/
        (("train",), "test", {"train": "train"}),
        (("Train", "VAL"), "test", {"Train": "train", "VAL": "test"}),  # any case
        (("TRAIN", "Validation"), "test", {"TRAIN": "train", "Validation": "test"}),
        (("Train", "Test", "Val"), "test", {"Train": "train", "Test": "test", "Val": "val"}),
    ],
)
def test_a_val_folder_stands_in_for_a_missing_eval_split(folders, eval_split, expected):
    paths = [f"{folder}/{label}/{n}.jpg" for folder in folders for label in ("cat", "dog") for n in range(2)]
    plan = image_folder.plan_dataset("gs://b/data", relative_paths=paths, eval_split=eval_split)
    assert {f.relative_path.split("/")[0]: f.split for f in plan.files} == expected
    assert all(f.path == f"gs://b/data/{f.relative_path}" for f in plan.files)  # the files keep their names


def test_a_labels_file_names_the_classes_of_a_flat_folder(tmp_path):
    """ImageNet's val/ is flat (ILSVRC2012_val_00000001.JPEG): its classes come from a CSV, never the prefix."""
    labels = tmp_path / "val_labels.csv"
    labels.write_text(
        "relative_path,class\nval/ILSVRC2012_val_00000001.JPEG,n01751748\nval/ILSVRC2012_val_00000002.JPEG, n09193705\n"
    )
    paths = [
        "train/n01751748/a.JPEG",
        "train/n09193705/b.JPEG",
        "val/ILSVRC2012_val_00000001.JPEG",
        "val/ILSVRC2012_val_00000002.JPEG",
        "val/ILSVRC2012_val_00000003.JPEG",
    ]
    plan = image_folder.plan_dataset("/data", relative_paths=paths, labels_file=str(labels))
    located = {f.relative_path: (f.split, f.label, f.problem) for f in plan.files}
    assert plan.classes == ("n01751748", "n09193705")
    assert located["val/ILSVRC2012_val_00000001.JPEG"] == ("test", "n01751748", None)
    assert located["val/ILSVRC2012_val_00000002.JPEG"] == ("test", "n09193705", None)
    assert located["val/ILSVRC2012_val_00000003.JPEG"][1:] == (None, "in no class folder and not in ingest.labels_file")
    assert located["train/n01751748/a.JPEG"] == ("train", "n01751748", None)  # class folders still name classes


def test_a_labels_file_inside_the_data_is_ignored_as_an_image_and_a_bad_row_is_a_one_line_error(tmp_path):
    (tmp_path / "labels.csv").write_text("cat_1.jpg,cat\ndog_1.jpg,dog\n")
    plan = image_folder.plan_dataset(
        str(tmp_path), relative_paths=["cat_1.jpg", "dog_1.jpg", "labels.csv"], labels_file=str(tmp_path / "labels.csv")
    )
    assert [(i.relative_path, i.reason) for i in plan.ignored] == [
        ("labels.csv", "the labels file (ingest.labels_file)")
    ]
    (tmp_path / "bad.csv").write_text("cat_1.jpg,cat\ndog_1.jpg\n")
    with pytest.raises(DataError, match=r"^\S*bad.csv:2: expected '<relative path>,<class>', got 'dog_1.jpg'$"):
        image_folder.plan_dataset(str(tmp_path), relative_paths=["cat_1.jpg"], labels_file=str(tmp_path / "bad.csv"))
    with pytest.raises(DataError, match="ingest.labels_file .*missing.csv does not exist"):
        image_folder.plan_dataset(
            str(tmp_path), relative_paths=["cat_1.jpg"], labels_file=str(tmp_path / "missing.csv")
        )


def test_an_unlabelled_folder_is_a_split_of_its_own_in_any_nesting_and_adds_no_class(tmp_path):
    _touch(
        tmp_path,
        "train/cat/1.jpg",
        "train/dog/2.jpg",
        "test/cat/3.jpg",
        "Unlabelled/a.jpg",
        "Unlabelled/2019/06/b.jpg",
        "Unlabelled/cat_c.jpg",  # a prefix is not a class here
    )
    plan = image_folder.plan_dataset(str(tmp_path))
    assert plan.classes == ("cat", "dog")
    unlabelled = {f.relative_path: (f.split, f.label, f.problem) for f in plan.files if f.split == "unlabelled"}
    assert unlabelled == {
        "Unlabelled/a.jpg": ("unlabelled", None, None),
        "Unlabelled/2019/06/b.jpg": ("unlabelled", None, None),
        "Unlabelled/cat_c.jpg": ("unlabelled", None, None),
    }
    assert image_folder.split_names(plan.layout, {"train": 4, "test": 1}) == ["test", "train", "unlabelled"]


def test_an_unlabelled_folder_beside_class_folders_leaves_them_to_the_hash_split(tmp_path):
    _touch(tmp_path, "cat/1.jpg", "dog/2.jpg", "unlabeled/x/3.jpg")
    plan = image_folder.plan_dataset(str(tmp_path))
    assert not plan.has_split_folders and plan.classes == ("cat", "dog")
    assert {(f.relative_path, f.split) for f in plan.files} == {
        ("cat/1.jpg", None),
        ("dog/2.jpg", None),
        ("unlabeled/x/3.jpg", "unlabelled"),
    }
    assert image_folder.split_names(plan.layout, {"train": 4, "test": 1}) == ["test", "train", "unlabelled"]


def test_two_unlabelled_folders_are_a_one_line_error(tmp_path):
    _touch(tmp_path, "train/cat/1.jpg", "train/dog/2.jpg", "unlabelled/a.jpg", "unlabeled/b.jpg")
    with pytest.raises(DataError, match="two folders of unlabelled images"):
        image_folder.plan_dataset(str(tmp_path))
