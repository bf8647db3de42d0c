"""ImageExampleGen: a TFX component that turns an image folder into validated TFRecords.

It plans the layout from the folder names below the root (``image_folder``: split
folders and labelling rules), then a Beam pipeline lists the files itself (in a
worker: the job graph holds the layout, not the file list), finds the classes, reads,
checks and converts every file (``image_decoding``) and writes gzipped ``tf.train.Example``
TFRecords of about 150 MB (``shard_counts``), one ``Split-<name>`` folder per split,
as every TFX ExampleGen does.
Every file found is counted once: written, or rejected with its reason. The
report (``ingest_report.json``, in the artifact) also lists ignored files,
duplicate images and images that appear in more than one split.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, NamedTuple, Optional

import apache_beam as beam
import tensorflow as tf
from apache_beam.options.pipeline_options import StandardOptions

from components.errors import DataError
from components.ingest import image_decoding, image_folder
from components.private_apis import (
    EXAMPLES_FILE_PREFIX,
    BaseBeamComponent,
    BaseBeamExecutor,
    BeamExecutorSpec,
    Channel,
    ChannelParameter,
    ComponentSpec,
    ExecutionParameter,
    artifact_utils,
    standard_artifacts,
)
from shared import contract, uri_io
from shared.records import IngestReport

EXAMPLES_KEY = "examples"
_RECORDS_DIR = "_ingest_records"
_REJECTED = "rejected"
_IGNORED = "ignored"
_WARNING = "warning"


class ImageExampleGenSpec(ComponentSpec):
    PARAMETERS = {
        "input_base": ExecutionParameter(type=str),
        "split_buckets": ExecutionParameter(type=str),  # JSON: {split: hash buckets}
        "max_pixels": ExecutionParameter(type=int),
        "max_reject_fraction": ExecutionParameter(type=float),
        "class_separator": ExecutionParameter(type=str),
        "num_shards": ExecutionParameter(type=int),  # TFRecord files per split; 0: one per TARGET_SHARD_BYTES
        "eval_split": ExecutionParameter(type=str),  # a val/ folder becomes this split when it has no folder
        "labels_file": ExecutionParameter(type=str),  # CSV of relative path, class; "" for none
        # DataFingerprint's survey (JSON: the data's fingerprint, bytes per top-level folder), a value
        # known at run time: the step's cache key holds the data's content, not an upstream artifact.
        "survey": ExecutionParameter(type=str),
    }
    # The folder's fingerprint: a new one whenever the files change, so caching never reuses stale examples.
    INPUTS: Dict[str, ChannelParameter] = {}
    OUTPUTS = {EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class _LocateFile(beam.DoFn):
    """A listed file's split and class (image_folder.locate); files outside the dataset go to the ignored output."""

    def __init__(self, layout: image_folder.Layout):
        self._layout = layout
        self._labels = None

    def setup(self):
        if self._layout.labels_file:  # read by each worker, so the job graph stays small
            self._labels = image_folder.read_labels_file(self._layout.labels_file)

    def process(self, relative_path: str):
        located = image_folder.locate(relative_path, self._layout, self._labels)
        if isinstance(located, image_folder.IgnoredFile):
            yield beam.pvalue.TaggedOutput(
                _IGNORED, {"kind": _IGNORED, "path": located.relative_path, "reason": located.reason}
            )
        else:
            yield located


class WrittenExample(NamedTuple):
    """One converted file on its way to its split's TFRecords."""

    split: str
    sha256: str
    path: str  # relative to the dataset's root
    serialized: bytes  # a tf.train.Example


class _IngestFile(beam.DoFn):
    """Reads and converts one file; rejected files go to a tagged output with the reason."""

    def __init__(self, max_pixels: int, split_buckets: Dict[str, int]):
        self._max_pixels = max_pixels
        self._split_buckets = split_buckets
        self._classes: Optional[List[str]] = None
        self._class_ids: Dict[str, int] = {}

    def process(self, source: image_folder.SourceFile, classes: List[str]):
        if classes is not self._classes:  # the side input: the same object for every element of a bundle
            self._classes, self._class_ids = classes, {name: index for index, name in enumerate(classes)}
        unlabelled = source.split == contract.UNLABELLED_SPLIT
        if source.problem or (source.label is None and not unlabelled):  # a file without a problem has its class
            yield beam.pvalue.TaggedOutput(
                _REJECTED, {"path": source.relative_path, "split": source.split, "reason": source.problem}
            )
            return
        sha256, result, warning = image_decoding.ingest_file(
            source.path, source.relative_path, source.label, self._class_ids, self._max_pixels
        )
        split = source.split or image_folder.hash_split(sha256 or source.relative_path, self._split_buckets)
        if isinstance(result, image_decoding.Rejection):
            yield beam.pvalue.TaggedOutput(
                _REJECTED, {"path": source.relative_path, "split": split, "reason": result.reason}
            )
            return
        if warning:
            yield beam.pvalue.TaggedOutput(
                _WARNING, {"kind": _WARNING, "path": source.relative_path, "split": split, "reason": warning}
            )
        yield WrittenExample(split, sha256, source.relative_path, result.SerializeToString())


def _duplicate_groups(item) -> Iterable[Dict[str, Any]]:
    sha256, copies = item
    copies = sorted(copies)
    if len(copies) > 1:
        yield {"kind": "duplicate", "sha256": sha256, "copies": [{"split": s, "path": p} for s, p in copies]}


TARGET_SHARD_BYTES = 150 * 2**20  # TPU input pipelines read best from files of about 100-200 MB


def shard_counts(
    layout: image_folder.Layout,
    split_names: List[str],
    split_buckets: Dict[str, int],
    num_shards: int,
    folder_bytes: Dict[str, int],
    sized: bool = True,
) -> Dict[str, int]:
    """TFRecord files per split: ``num_shards`` when set, else one per TARGET_SHARD_BYTES of input.

    ``sized`` False (the DirectRunner): 0, the runner's choice. A fixed count makes Beam shuffle
    the records to their files, and the DirectRunner holds a shuffle in memory (1.8 GB more
    at 200,000 small images); left to choose, it writes the files as it reads.

    ``folder_bytes`` (DataFingerprint's listing: top-level folder -> bytes) estimates each split's
    size: its split folder's bytes, or the whole folder's bytes times its hash-bucket share. Records
    hold the image bytes as read (only images that are not RGB JPEG or PNG are re-encoded, as PNG),
    so for typical datasets the estimate is close.
    """
    if num_shards or not sized:
        return {name: num_shards for name in split_names}
    unlabelled = folder_bytes.get(layout.unlabelled_folder, 0) if layout.unlabelled_folder else 0
    if layout.split_folders:
        split_bytes: Dict[str, float] = {name: 0 for name in split_names}
        for folder in layout.split_folders:
            split_bytes[layout.split_of(folder)] += folder_bytes.get(folder, 0)
    else:
        total, buckets = sum(folder_bytes.values()) - unlabelled, sum(split_buckets.values())
        split_bytes = {name: total * split_buckets[name] / buckets for name in split_buckets}
    if layout.unlabelled_folder:
        split_bytes[contract.UNLABELLED_SPLIT] = unlabelled
    return {name: max(1, round(split_bytes[name] / TARGET_SHARD_BYTES)) for name in split_names}


def _read_records(directory: str) -> List[Dict[str, Any]]:
    records: List[Dict[str, Any]] = []
    for path in tf.io.gfile.glob(os.path.join(directory, "*.jsonl")):
        with tf.io.gfile.GFile(path) as handle:
            records.extend(json.loads(line) for line in handle if line.strip())
    return records


def build_report(layout: image_folder.Layout, split_names: List[str], records: List[Dict[str, Any]]) -> IngestReport:
    """The ingestion report: classes, per-split counts, every rejected and ignored file, duplicates and leakage.

    ``records`` are what the Beam job found and did: ``classes`` (sorted; a class id is its index),
    ``found`` (files it listed in the dataset), ``written`` (per split), ``rejected``, ``ignored``,
    ``warning`` (written) and ``duplicate`` records.
    """
    splits = {name: {"written": 0, "rejected": 0} for name in split_names}
    rejected, ignored, warnings, duplicates, found, classes = [], [], [], [], 0, []
    for record in records:
        kind = record.pop("kind")
        if kind == "classes":
            classes = record["classes"]
        elif kind == "found":
            found += record["count"]
        elif kind == "written":
            splits[record["split"]]["written"] = record["count"]
        elif kind == _REJECTED:
            splits.setdefault(record["split"] or "unassigned", {"written": 0, "rejected": 0})
            splits[record["split"] or "unassigned"]["rejected"] += 1
            rejected.append(record)
        elif kind == _IGNORED:
            ignored.append(record)
        elif kind == _WARNING:
            warnings.append(record)
        else:
            duplicates.append(record)
    written = sum(s["written"] for s in splits.values())
    total_rejected = len(rejected)
    if written + total_rejected != found:
        raise RuntimeError(f"ingestion lost files: found {found}, written {written}, rejected {total_rejected}")
    duplicates.sort(key=lambda d: d["copies"][0]["path"])
    return IngestReport.model_validate(
        {
            "input": layout.root,
            "classes": classes,
            "split_folders": {layout.split_of(folder): folder for folder in layout.split_folders},
            "splits": splits,
            "found": found,
            "written": written,
            "rejected_total": total_rejected,
            "rejected": sorted(rejected, key=lambda r: r["path"]),
            "ignored": sorted(ignored, key=lambda r: r["path"]),
            "warnings": sorted(warnings, key=lambda r: r["path"]),
            "duplicates": duplicates,
            "cross_split_duplicates": [d for d in duplicates if len({c["split"] for c in d["copies"]}) > 1],
        }
    )


class Executor(BaseBeamExecutor):
    """Plans the dataset, runs the Beam conversion, writes the splits and the report."""

    def Do(self, input_dict, output_dict, exec_properties):
        self._log_startup(input_dict, output_dict, exec_properties)
        split_buckets = json.loads(exec_properties["split_buckets"])
        input_base = exec_properties["input_base"]
        root = input_base if uri_io.is_remote(input_base) else os.path.abspath(input_base)
        # Only the layout is planned here, from the folder names below the root; the Beam job lists
        # the files and finds the classes itself, so this process never holds the file list, and
        # the job graph carries the layout, never file names.
        labels_file = exec_properties.get("labels_file") or None
        if labels_file and not uri_io.is_remote(labels_file):
            labels_file = os.path.abspath(labels_file)
        layout = image_folder.plan_layout(
            root, exec_properties["class_separator"], eval_split=exec_properties["eval_split"], labels_file=labels_file
        )
        split_names = image_folder.split_names(layout, split_buckets)
        survey = json.loads(exec_properties["survey"])
        examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        examples.split_names = artifact_utils.encode_split_names(split_names)
        records_dir = os.path.join(examples.uri, _RECORDS_DIR)
        with self._make_beam_pipeline() as pipeline:
            runner = pipeline.options.view_as(StandardOptions).runner or "DirectRunner"
            shards = shard_counts(
                layout,
                split_names,
                split_buckets,
                exec_properties["num_shards"],
                survey["folder_bytes"],
                sized="Direct" not in str(runner),
            )
            split_uris = {name: artifact_utils.get_split_uri([examples], name) for name in split_names}
            _ingest(pipeline, layout, exec_properties["max_pixels"], split_buckets, split_uris, shards, records_dir)
        report = build_report(layout, split_names, _read_records(records_dir))
        tf.io.gfile.rmtree(records_dir)
        _finish(report, root, examples, exec_properties, survey["fingerprint"])


def _ingest(pipeline, layout, max_pixels: int, split_buckets, split_uris, shards, records_dir: str) -> None:
    """The Beam job: list, label, convert and write every file; one JSON record per finding into ``records_dir``."""
    split_names = list(split_uris)
    listed = (
        pipeline
        | "Root" >> beam.Create([layout.root])
        | "ListFiles" >> beam.FlatMap(image_folder.iter_files)
        | "Locate" >> beam.ParDo(_LocateFile(layout)).with_outputs(_IGNORED, main="files")
    )
    classes = listed.files | "Classes" >> _Classes()
    found = (
        listed.files
        | "CountFound" >> beam.combiners.Count.Globally()
        | "FoundRecord" >> beam.Map(lambda count: {"kind": "found", "count": count})
    )
    results = (
        listed.files
        | "Spread" >> beam.Reshuffle()
        | "Ingest"
        >> beam.ParDo(_IngestFile(max_pixels, split_buckets), beam.pvalue.AsSingleton(classes)).with_outputs(
            _REJECTED, _WARNING, main="written"
        )
    )
    by_split = results.written | "BySplit" >> beam.Partition(_BySplit(split_names), len(split_names))
    # Files are already read in shuffled order, so the splits are written without
    # a second shuffle of the image bytes (unlike TFX's WriteSplit).
    for name, split in zip(split_names, by_split):
        _ = (
            split
            | f"Serialized[{name}]" >> beam.Map(lambda example: example.serialized)
            | f"Write[{name}]"
            >> beam.io.WriteToTFRecord(
                os.path.join(split_uris[name], EXAMPLES_FILE_PREFIX), file_name_suffix=".gz", num_shards=shards[name]
            )
        )
    counts = (
        results.written
        | "SplitOf" >> beam.Map(lambda example: example.split)
        | "CountWritten" >> beam.combiners.Count.PerElement()
        | "WrittenRecord" >> beam.Map(lambda kv: {"kind": "written", "split": kv[0], "count": kv[1]})
    )
    duplicates = (
        results.written
        | "ByHash" >> beam.Map(lambda example: (example.sha256, (example.split, example.path)))
        | "GroupByHash" >> beam.GroupByKey()
        | "Duplicates" >> beam.FlatMap(_duplicate_groups)
    )
    rejected = results[_REJECTED] | "RejectedRecord" >> beam.Map(lambda r: {"kind": _REJECTED, **r})
    class_record = classes | "ClassesRecord" >> beam.Map(lambda names: {"kind": "classes", "classes": names})
    _ = (
        (class_record, found, listed[_IGNORED], results[_WARNING], counts, duplicates, rejected)
        | "AllRecords" >> beam.Flatten()
        | "ToJson" >> beam.Map(json.dumps)
        | "WriteRecords" >> beam.io.WriteToText(os.path.join(records_dir, "part"), file_name_suffix=".jsonl")
    )


class _Classes(beam.PTransform):
    """The sorted class names of the located files (a class id is its index)."""

    def expand(self, files):
        return (
            files
            | "Label" >> beam.FlatMap(lambda source: [source.label] if source.label is not None else [])
            | "DistinctLabels" >> beam.Distinct()
            | "AllLabels" >> beam.combiners.ToList()
            | "Sorted" >> beam.Map(sorted)
        )


class _BySplit(beam.PartitionFn):
    def __init__(self, split_names: List[str]):
        self._split_names = split_names

    def partition_for(self, element, num_partitions, *args, **kwargs) -> int:  # element: a WrittenExample
        return self._split_names.index(element.split)


def _finish(report: IngestReport, root: str, examples, exec_properties, fingerprint: str) -> None:
    """Checks the ingestion's outcome, writes its report and the Examples artifact's properties."""
    if not report.found:
        raise DataError(f"dataset path {root} does not exist or is empty: point --data at a folder of images")
    image_folder.check_classes(root, report.classes, exec_properties["class_separator"])
    report.write(os.path.join(examples.uri, contract.INGEST_REPORT_FILE))
    examples.set_string_custom_property("payload_format", "FORMAT_TF_EXAMPLE")
    examples.set_string_custom_property("file_format", "tfrecords_gzip")
    examples.set_string_custom_property("classes", json.dumps(report.classes))
    examples.set_int_custom_property("written", report.written)
    examples.set_int_custom_property("rejected", report.rejected_total)
    examples.set_string_custom_property(contract.INPUT_FINGERPRINT, fingerprint)
    if report.rejected_total / max(report.found, 1) > exec_properties["max_reject_fraction"]:
        raise DataError(rejection_message(report, root, examples.uri, exec_properties["max_reject_fraction"]))


SHOWN_REJECTIONS = 20


def rejection_message(report: IngestReport, root: str, examples_uri: str, max_fraction: float) -> str:
    """The error of an ingestion stopped by too many rejections: one line, then the first rejected files
    and their reasons. The whole report is kept beside the examples (``<ImageExampleGen>/failed/<id>/``):
    TFX deletes a failed execution's outputs, the examples folder with them."""
    kept = uri_io.join(uri_io.parent(examples_uri, 2), "failed", examples_uri.rstrip("/").rsplit("/", 1)[-1])
    kept_report = uri_io.join(kept, contract.INGEST_REPORT_FILE)
    report.write(kept_report)
    total, found = report.rejected_total, report.found
    lines = [
        f"{total} of {found} files in {root} were rejected ({total / max(found, 1):.1%} > max_reject_fraction "
        f"{max_fraction:.1%}): fix or remove them, or raise ingest.max_reject_fraction; "
        f"every reason is in {kept_report}"
    ]
    lines += [f"  {note.path}: {note.reason}" for note in report.rejected[:SHOWN_REJECTIONS]]
    if total > SHOWN_REJECTIONS:
        lines.append(f"  ... and {total - SHOWN_REJECTIONS} more")
    return "\n".join(lines)


class ImageExampleGen(BaseBeamComponent):
    """Image folder (local or gs://) -> Examples artifact with a Split-<name> folder per split."""

    SPEC_CLASS = ImageExampleGenSpec
    EXECUTOR_SPEC = BeamExecutorSpec(Executor)

    def __init__(
        self,
        survey: Any,
        input_base: str,
        split_buckets: Dict[str, int],
        max_pixels: int,
        max_reject_fraction: float,
        class_separator: str = "_",
        num_shards: int = 0,
        eval_split: str = "test",
        labels_file: str = "",
    ):
        super().__init__(
            spec=ImageExampleGenSpec(
                input_base=input_base,
                split_buckets=json.dumps(split_buckets, sort_keys=True),
                max_pixels=max_pixels,
                max_reject_fraction=max_reject_fraction,
                class_separator=class_separator,
                num_shards=num_shards,
                eval_split=eval_split,
                labels_file=labels_file,
                survey=survey,
                examples=Channel(type=standard_artifacts.Examples),
            )
        )
