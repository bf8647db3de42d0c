"""One way to read and write artifact files at a path or a gs:// URI."""

import pytest

from shared import uri_io


def test_paths_join_and_climb_without_mangling_the_scheme():
    assert uri_io.join("gs://bucket/root/", "Trainer", "checkpoints/") == "gs://bucket/root/Trainer/checkpoints"
    assert uri_io.parent("gs://bucket/root/Trainer/model_run/7", 2) == "gs://bucket/root/Trainer"
    assert uri_io.parent("/tmp/a/b/") == "/tmp/a"
    assert uri_io.is_remote("gs://b/x") and not uri_io.is_remote("/tmp/x")


def test_a_local_write_replaces_the_file_whole_and_leaves_nothing_beside_it(tmp_path):
    target = str(tmp_path / "deep" / "metrics.json")
    uri_io.write_json(target, {"top1": 0.5})
    uri_io.write_json(target, {"top1": 0.7})
    assert uri_io.read_json(target) == {"top1": 0.7}
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["metrics.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = str(tmp_path / "report.md")
    uri_io.write_text(target, "old")
    with pytest.raises(TypeError):
        uri_io.write_bytes(target, None)  # fails while writing the staged copy
    assert uri_io.read_text(target) == "old" and len(list(tmp_path.iterdir())) == 1


def test_a_folder_is_copied_file_by_file(tmp_path):
    for name in ("saved_model.pb", "variables/variables.index", "assets/label"):
        uri_io.write_text(str(tmp_path / "model" / name), name)
    uri_io.copy_tree(str(tmp_path / "model"), str(tmp_path / "copy"))
    assert uri_io.read_text(str(tmp_path / "copy" / "variables" / "variables.index")) == "variables/variables.index"
    with pytest.raises(FileNotFoundError):
        uri_io.copy_tree(str(tmp_path / "nothing"), str(tmp_path / "other"))


def test_a_figure_is_saved_as_png(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, _ = plt.subplots()
    uri_io.save_figure(figure, str(tmp_path / "plot.png"))
    plt.close(figure)
    assert uri_io.read_bytes(str(tmp_path / "plot.png"))[:4] == b"\x89PNG"
