"""`simclr-tfx ingest` on what cameras, phones, scanners and copied folders produce.

One generated corpus holds every case: each valid file is written (upright, 8-bit, full range),
every other file is named with its reason, and the counts are checked exactly.
"""

import contextlib
import glob
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.ingest import image_decoding
from components.ingest.image_example_gen import rejection_message
from pipeline import cli
from pipeline.commands import printing
from shared.records import IngestReport

pytestmark = pytest.mark.slow(minutes=1)

RED, BLUE = (230, 20, 20), (20, 20, 230)


def encoded(image_format: str, mode: str = "RGB", size=(48, 32), color=RED, **save) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color if mode in ("RGB", "CMYK", "RGBA") else 128).save(buffer, format=image_format, **save)
    return buffer.getvalue()


def sideways_jpeg() -> bytes:
    """Stored 48 wide and 32 high, red left and blue right; EXIF orientation 6 (turn clockwise to view)."""
    pixels = np.zeros((32, 48, 3), np.uint8)
    pixels[:, :24], pixels[:, 24:] = RED, BLUE
    exif = Image.Exif()
    exif[image_decoding.EXIF_ORIENTATION] = 6
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def mpo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), RED).save(
        buffer, format="MPO", save_all=True, append_images=[Image.new("RGB", (48, 32), BLUE)]
    )
    return buffer.getvalue()


def multi_page(image_format: str) -> bytes:
    buffer = io.BytesIO()
    pages = [Image.new("RGB", (48, 32), RED), Image.new("RGB", (48, 32), BLUE)]
    pages[0].save(buffer, format=image_format, save_all=True, append_images=pages[1:])
    return buffer.getvalue()


def sixteen_bit(image_format: str) -> bytes:
    ramp = np.tile(np.linspace(0, 65535, 48).round().astype(np.uint16), (32, 1))
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format=image_format)
    return buffer.getvalue()


def rgb_48_bit_png() -> bytes:
    ramp = np.tile(np.linspace(0, 65535, 48).round().astype(np.uint16), (32, 1))
    return tf.io.encode_png(tf.constant(np.stack([ramp, ramp, ramp], -1))).numpy()


VALID = {
    "baseline.jpg": lambda: encoded("JPEG"),
    "progressive.jpg": lambda: encoded("JPEG", progressive=True),
    "cmyk.jpg": lambda: encoded("JPEG", "CMYK", color=(0, 200, 200, 0)),
    "camera.jpg": mpo,
    "sideways.jpg": sideways_jpeg,
    "photo.png": lambda: encoded("PNG"),
    "gray16.png": lambda: sixteen_bit("PNG"),
    "deep.png": rgb_48_bit_png,
    "palette.png": lambda: encoded("PNG", "P"),
    "alpha.png": lambda: encoded("PNG", "RGBA", color=(230, 20, 20, 128)),
    "animation.gif": lambda: multi_page("GIF"),
    "old.bmp": lambda: encoded("BMP"),
    "web.webp": lambda: encoded("WEBP"),
    "scan.tif": lambda: multi_page("TIFF"),
    "scan16.tiff": lambda: sixteen_bit("TIFF"),
}
CLASSES = ("golden retriever", "café")  # a space, a non-ASCII letter


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Train/ and VAL/ split folders, every format in each class of Train/, litter, symlinks and a HEIC."""
    root = tmp_path_factory.mktemp("camera-roll") / "photos"
    outside = tmp_path_factory.mktemp("elsewhere") / "linked.jpg"
    outside.write_bytes(encoded("JPEG", color=BLUE))
    for label in CLASSES:
        train = root / "Train" / label
        train.mkdir(parents=True)
        for name, make in VALID.items():
            (train / name).write_bytes(make())
        (train / "linked.jpg").symlink_to(outside)  # a symlink to an image: read once
        (root / "VAL" / label).mkdir(parents=True)
        (root / "VAL" / label / "held-out.jpg").write_bytes(encoded("JPEG", color=(10, 200, 10)))
    cafe = root / "Train" / "café"
    (cafe / "IMG_0002.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    (cafe / "self.jpg").symlink_to(cafe / "self.jpg")  # a symlink loop
    (cafe / "again").symlink_to(cafe, target_is_directory=True)  # a folder loop
    for litter in (".DS_Store", "._baseline.jpg", "Thumbs.db", "desktop.ini"):
        (cafe / litter).write_bytes(b"\x00Mac OS X litter")
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    return root


@pytest.fixture(scope="module")
def ingested(corpus, tmp_path_factory):
    output = tmp_path_factory.mktemp("camera-run")
    config = output / "config.yaml"
    config.write_text(
        "pipeline_name: camera\nbeam_args: [--direct_num_workers=1]\n"
        "ingest: {max_reject_fraction: 1.0, beam_args: [--direct_num_workers=1]}\n"
    )
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main(["ingest", "--config", str(config), "--data", str(corpus), "--output", str(output), "--json"])
    assert code == 0
    return json.loads(stdout.getvalue().strip().splitlines()[-1])


def examples(summary, split):
    files = glob.glob(os.path.join(summary["output"], f"Split-{split}", "*.gz"))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    parsed = [tf.train.Example.FromString(r.numpy()).features.feature for r in records]
    return {f["relative_path"].bytes_list.value[0].decode(): f for f in parsed}


def test_every_valid_file_is_written_and_every_other_named_with_its_reason(ingested, corpus):
    assert ingested["classes"] == sorted(CLASSES)
    assert ingested["split_folders"] == {"train": "Train", "test": "VAL"}
    per_class = len(VALID) + 1  # and the symlinked image
    assert {split: counts["written"] for split, counts in ingested["splits"].items()} == {
        "train": 2 * per_class,
        "test": 2,
    }
    assert {r["path"]: r["reason"] for r in ingested["rejected"]} == {
        "Train/café/IMG_0002.HEIC": "HEIC images are not supported: convert it to JPEG or PNG",
        "Train/café/self.jpg": f"symlink loop (-> {corpus}/Train/café/self.jpg): never followed",
        "Train/café/again": (
            f"symlink loop: leads back to the folder {corpus}/Train/café, already read; never followed"
        ),
    }
    ignored = {r["path"]: r["reason"] for r in ingested["ignored"]}
    assert ignored == {
        ".DS_Store": "operating-system litter: macOS folder settings (.DS_Store)",
        "Train/café/.DS_Store": "operating-system litter: macOS folder settings (.DS_Store)",
        "Train/café/._baseline.jpg": "operating-system litter: macOS AppleDouble metadata (._ file)",
        "Train/café/Thumbs.db": "operating-system litter: Windows thumbnail cache (Thumbs.db)",
        "Train/café/desktop.ini": "operating-system litter: Windows folder settings (desktop.ini)",
    }
    assert ingested["warnings"] == []  # an MPO named .jpg is what cameras write


def test_class_names_keep_their_spaces_and_letters(ingested):
    labels = {f["label"].bytes_list.value[0].decode() for f in examples(ingested, "train").values()}
    assert labels == set(CLASSES)


def test_every_written_image_is_upright_8_bit_rgb_with_its_full_range(ingested):
    written = examples(ingested, "train")
    pixels = {
        path: tf.io.decode_image(f["image_bytes"].bytes_list.value[0], channels=3).numpy()
        for path, f in written.items()
    }
    for label in CLASSES:
        sideways = pixels[f"Train/{label}/sideways.jpg"]
        assert sideways.shape == (48, 32, 3)  # turned upright: taller than wide
        assert sideways[4, 16, 0] > 150 > sideways[4, 16, 2]  # the stored left (red) half is on top
        assert sideways[44, 16, 2] > 150 > sideways[44, 16, 0]
        for name in ("gray16.png", "scan16.tiff", "deep.png"):
            row = pixels[f"Train/{label}/{name}"][0, :, 0].astype(float)
            expected = np.linspace(0, 65535, 48).round() * 255 / 65535
            assert np.abs(row - expected).max() <= 1.0, name  # scaled, not clipped near white
        for name in ("camera.jpg", "scan.tif", "animation.gif"):  # the first picture, page or frame
            first = pixels[f"Train/{label}/{name}"][16, 24]
            assert first[0] > 150 > first[2], name
    kept = written[f"Train/{CLASSES[0]}/baseline.jpg"]
    assert kept["image_format"].bytes_list.value[0] == b"jpeg"  # needed nothing: its own bytes


def test_the_report_says_where_each_split_came_from(ingested, capsys):
    printing.ingest_table(ingested)
    table = capsys.readouterr().out.splitlines()
    assert "(from folder Train/)" in next(line for line in table if line.startswith("train "))
    assert "(from folder VAL/)" in next(line for line in table if line.startswith("test "))


def test_a_stopped_ingestion_lists_its_first_20_rejections_and_keeps_the_report(tmp_path):
    rejected = [{"path": f"train/cat/{n:02d}.jpg", "reason": "not an image", "split": "train"} for n in range(25)]
    report = IngestReport.model_validate(
        {
            **{"input": "/data", "classes": ["cat"], "split_folders": {}, "ignored": [], "warnings": []},
            **{"splits": {"train": {"written": 5, "rejected": 25}}, "duplicates": [], "cross_split_duplicates": []},
            **{"found": 30, "written": 5, "rejected_total": 25, "rejected": rejected},
        }
    )
    examples_uri = str(tmp_path / "ImageExampleGen" / "examples" / "7")
    lines = rejection_message(report, "/data", examples_uri, 0.05).splitlines()
    kept = str(tmp_path / "ImageExampleGen" / "failed" / "7" / "ingest_report.json")
    assert lines[0].startswith("25 of 30 files in /data were rejected (83.3% > max_reject_fraction 5.0%)")
    assert lines[0].endswith(kept) and IngestReport.read(kept) == report
    assert lines[1:21] == [f"  train/cat/{n:02d}.jpg: not an image" for n in range(20)]
    assert lines[21:] == ["  ... and 5 more"]
