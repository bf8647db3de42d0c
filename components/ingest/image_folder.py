"""Finds the images of a dataset folder (local or gs://) and plans what each one becomes.

Two layouts are understood, each with or without split folders
(train/test/val/validation/eval):

* ``[split/]class/*.ext``: one folder per class (ImageFolder);
* ``[split/]class_anything.ext``: the class is the file name's prefix.

Without split folders, every file is put in a split later, by its content hash.
An ``unlabelled/`` folder (or ``unlabeled/``) beside them holds images without a class, in any
nesting: they become the ``unlabelled`` split, which pretraining reads with ``train`` and which
no probe or fine-tuning reads for labels.
A labels file (``ingest.labels_file``) names the class of files that sit in no class
folder, as ImageNet's flat validation folder does; with one, file-name prefixes are not
read as classes.
Files that cannot belong to the dataset (hidden files, documents beside the
split folders) are listed as ignored with a reason, never dropped silently.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import os
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from apache_beam.io.filesystems import FileSystems
from google.api_core.exceptions import GoogleAPICallError
from google.cloud import storage

from components.errors import DataError
from shared import contract, uri_io

SPLIT_FOLDER_NAMES = ("train", "test", "val", "validation", "eval")
UNLABELLED_FOLDER_NAMES = ("unlabelled", "unlabeled")  # either spelling, any case
# Without a folder named as the evaluation split (config eval_split, default test), the first of these
# present becomes that split: ImageNet and most public sets ship train/ and val/.
EVAL_FOLDER_FALLBACKS = ("test", "val", "validation", "eval")


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """One input file and what its location says about it."""

    path: str  # absolute path or gs:// URI, as the readers open it
    relative_path: str  # relative to the dataset root, with '/' separators
    split: Optional[str]  # None: assigned later from the content hash
    label: Optional[str]  # None: the location names no class
    problem: Optional[str] = None  # why the location alone already rejects it


@dataclasses.dataclass(frozen=True)
class IgnoredFile:
    relative_path: str
    reason: str


@dataclasses.dataclass(frozen=True)
class DatasetPlan:
    root: str
    files: Tuple[SourceFile, ...]
    ignored: Tuple[IgnoredFile, ...]
    classes: Tuple[str, ...]  # sorted: a class id is its index here
    has_split_folders: bool
    layout: "Layout"

    @property
    def class_ids(self) -> Dict[str, int]:
        return {name: index for index, name in enumerate(self.classes)}


def join(root: str, relative_path: str) -> str:
    return f"{root.rstrip('/')}/{relative_path}"


def iter_files(root: str) -> Iterator[str]:
    """Every file below root as a relative path with '/' separators, in no particular order.

    Locally this walks the folder itself (``_walk_local``), so a dangling symlink or a symlink loop is
    still listed (and rejected later with its reason); Beam's own local match would skip it silently.
    """
    if root.startswith("gs://"):
        for relative_path, _, _ in gcs_objects(root):
            yield relative_path
        return
    yield from _walk_local(root)


def _walk_local(root: str) -> Iterator[str]:
    """Files below a local root; a symlink to a folder is followed once, unless it leads back to a folder
    already walked (a loop): then the link itself is listed, for the reader to reject, never followed."""
    walked = {os.path.realpath(root)}
    folders = [""]
    while folders:
        folder = folders.pop()
        with os.scandir(os.path.join(root, folder)) as entries:
            for entry in entries:
                relative = f"{folder}/{entry.name}" if folder else entry.name
                try:
                    is_folder = entry.is_dir(follow_symlinks=True)
                except OSError:  # a symlink to itself (ELOOP): listed, for the reader to reject
                    is_folder = False
                if not is_folder:
                    yield relative  # a file, or a symlink to one (read through once), dangling or looping
                    continue
                target = os.path.realpath(entry.path)
                if entry.is_symlink() and target in walked:
                    yield relative
                    continue
                walked.add(target)
                folders.append(relative)


def gcs_objects(root: str, page_size: int = 1000) -> Iterator[Tuple[str, int, float]]:
    """(relative path, bytes, last update in seconds) of every object below a gs:// root, in name order.

    Read page by page (``page_size`` objects per request, GCS's maximum by default), so memory stays
    that of one page however many objects there are; Beam's ``FileSystems.match`` holds every match.
    Folder placeholder objects (names ending in '/') are not files and are skipped. A request that
    fails after the client's retries raises an ``OSError`` naming the folder.
    """
    bucket, _, prefix = root[len("gs://") :].partition("/")
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    try:
        for blob in storage.Client(project=None).list_blobs(bucket, prefix=prefix, page_size=page_size):
            if not blob.name.endswith("/"):
                yield blob.name[len(prefix) :], blob.size, blob.updated.timestamp()
    except GoogleAPICallError as error:  # after the client's own retries
        raise OSError(f"cannot list gs://{bucket}/{prefix}: {str(error).splitlines()[0]}") from error


def list_files(root: str) -> List[str]:
    """All files below root, as sorted relative paths with '/' separators."""
    if root.startswith("gs://"):
        found = sorted(iter_files(root))
        if not found and not FileSystems.exists(root.rstrip("/")):
            raise DataError(f"dataset path {root} does not exist or is empty: check the bucket and prefix")
        return found
    if not os.path.isdir(root):
        raise DataError(f"dataset path {root} does not exist or is not a folder: pass --data with an image folder")
    return sorted(iter_files(root))


def _prefix_label(file_name: str, separator: str) -> Optional[str]:
    stem = file_name.rsplit(".", 1)[0]
    label, found, rest = stem.partition(separator)
    return label if found and label and rest else None


LABELS_FILE_HEADERS = ("relative_path", "path")  # a first row starting with one of these is a header


def read_labels_file(uri: str) -> Dict[str, str]:
    """relative path -> class, from a CSV of ``<relative path>,<class>`` rows (local or gs://)."""
    if not uri_io.exists(uri):
        raise DataError(f"ingest.labels_file {uri} does not exist")
    labels = {}
    for number, row in enumerate(csv.reader(io.StringIO(uri_io.read_text(uri))), start=1):
        if not row or (number == 1 and row[0].strip().lower() in LABELS_FILE_HEADERS):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise DataError(f"{uri}:{number}: expected '<relative path>,<class>', got {','.join(row)!r}")
        labels[row[0].strip().lstrip("/")] = row[1].strip()
    return labels


def _locate(parts: Sequence[str], separator: str, by_labels_file: bool) -> Tuple[Optional[str], Optional[str]]:
    """(label, problem) for a path below the split level, given as its parts."""
    if len(parts) >= 2:
        return parts[0], None
    if by_labels_file:
        return None, "in no class folder and not in ingest.labels_file"
    label = _prefix_label(parts[0], separator)
    if label is None:
        return None, (
            f"cannot tell the class: put the file in a class folder or name it <class>{separator}<anything>.<ext>"
        )
    return label, None


@dataclasses.dataclass(frozen=True)
class Layout:
    """What decides each file's split and class: small, so a Beam job carries it instead of the file list."""

    root: str
    split_folders: Tuple[str, ...]  # empty: no split folders, splits come from content hashes
    class_separator: str = "_"
    renamed: Tuple[Tuple[str, str], ...] = ()  # (folder, split) where they differ, e.g. ("val", "test")
    labels_file: Optional[str] = None  # its URI: each reader loads it (read_labels_file)
    unlabelled_folder: Optional[str] = None  # the folder of images without a class, as spelled on disk

    def split_of(self, folder: str) -> str:
        return dict(self.renamed).get(folder, folder)


def _hidden(relative_path: str) -> bool:
    return any(part.startswith(".") for part in relative_path.split("/"))


# What operating systems and archivers leave in every folder they touch: never images, never rejected.
LITTER = {
    ".ds_store": "macOS folder settings (.DS_Store)",
    "thumbs.db": "Windows thumbnail cache (Thumbs.db)",
    "ehthumbs.db": "Windows thumbnail cache (ehThumbs.db)",
    "desktop.ini": "Windows folder settings (desktop.ini)",
}


def _litter(relative_path: str) -> Optional[str]:
    """Why a file is operating-system litter, or None."""
    parts = relative_path.split("/")
    name = parts[-1]
    if name.lower() in LITTER:
        return f"operating-system litter: {LITTER[name.lower()]}"
    if name.startswith("._"):
        return "operating-system litter: macOS AppleDouble metadata (._ file)"
    if "__MACOSX" in parts[:-1]:
        return "operating-system litter: macOS archive metadata (__MACOSX/)"
    return None


def locate(
    relative_path: str, layout: Layout, labels: Optional[Dict[str, str]] = None
) -> Union[SourceFile, IgnoredFile]:
    """The split and class of one file below layout.root, or why it is not part of the dataset.

    ``labels``: the layout's labels file, read (required when the layout has one).
    """
    parts = relative_path.split("/")
    litter = _litter(relative_path)
    if litter:
        return IgnoredFile(relative_path, litter)
    if _hidden(relative_path):
        return IgnoredFile(relative_path, "hidden file")
    if layout.labels_file and join(layout.root, relative_path) == layout.labels_file:
        return IgnoredFile(relative_path, "the labels file (ingest.labels_file)")
    if layout.unlabelled_folder and len(parts) > 1 and parts[0] == layout.unlabelled_folder:
        return SourceFile(join(layout.root, relative_path), relative_path, contract.UNLABELLED_SPLIT, None)
    if layout.split_folders:
        if parts[0] not in layout.split_folders:
            where = "beside" if len(parts) == 1 else "in a folder that is not a split folder, beside"
            return IgnoredFile(relative_path, f"{where} the split folders {list(layout.split_folders)}")
        split, below = layout.split_of(parts[0]), parts[1:]
    else:
        split, below = None, parts
    label: Optional[str]
    problem: Optional[str]
    if labels and relative_path in labels:
        label, problem = labels[relative_path], None
    else:
        label, problem = _locate(below, layout.class_separator, bool(layout.labels_file))
    return SourceFile(join(layout.root, relative_path), relative_path, split, label, problem)


def _layout(
    root: str, top_folders: Iterable[str], class_separator: str, eval_split: str, labels_file: Optional[str]
) -> Layout:
    """The layout given the names of the folders directly below root.

    Split folders are matched whatever their case (``Train/``, ``VAL/``, ``Validation/``) and written
    under the lowercase split name; without a folder named as ``eval_split``, the first of
    ``EVAL_FOLDER_FALLBACKS`` present stands in for it.
    """
    by_name: Dict[str, str] = {}
    unlabelled = [folder for folder in sorted(top_folders) if folder.lower() in UNLABELLED_FOLDER_NAMES]
    if len(unlabelled) > 1:
        raise DataError(f"dataset {root} has two folders of unlabelled images, {unlabelled}: merge them into one")
    for folder in sorted(top_folders):
        name = folder.lower()
        if name in SPLIT_FOLDER_NAMES:
            if name in by_name:
                raise DataError(
                    f"dataset {root} has two folders for the {name} split, {by_name[name]}/ and {folder}/: "
                    "merge them into one"
                )
            by_name[name] = folder
    eval_name = (
        eval_split
        if eval_split in by_name
        else next((name for name in EVAL_FOLDER_FALLBACKS if name in by_name and name != "train"), None)
    )
    split_of = {folder: (eval_split if name == eval_name else name) for name, folder in by_name.items()}
    renamed = tuple(sorted((folder, split) for folder, split in split_of.items() if folder != split))
    return Layout(
        root,
        tuple(sorted(by_name.values())),
        class_separator,
        renamed,
        labels_file or None,
        unlabelled[0] if unlabelled else None,
    )


def _split_folders_below(root: str) -> List[str]:
    """The split folders directly below root, found without listing the files.

    On gs:// each candidate name costs one listing request of one object, so a flat
    folder of a million images is never listed here.
    """
    if not uri_io.is_remote(root):
        if not os.path.isdir(root):
            raise DataError(f"dataset path {root} does not exist or is not a folder: pass --data with an image folder")
        return [name for name in os.listdir(root) if os.path.isdir(os.path.join(root, name))]
    names = SPLIT_FOLDER_NAMES + UNLABELLED_FOLDER_NAMES
    candidates = dict.fromkeys(v for name in names for v in (name, name.capitalize(), name.upper()))
    patterns = [join(root, name) + "/**" for name in candidates]
    matches = FileSystems.match(patterns, limits=[1] * len(patterns))
    return [name for name, match in zip(candidates, matches) if match.metadata_list]


def plan_layout(
    root: str, class_separator: str = "_", eval_split: str = "test", labels_file: Optional[str] = None
) -> Layout:
    """The split folders and labelling rules of root, from the folder names below it (never the file list)."""
    return _layout(root, _split_folders_below(root), class_separator, eval_split, labels_file)


def split_names(layout: Layout, split_buckets: Dict[str, int]) -> List[str]:
    """The splits a layout produces: its split folders (renamed), or the hash buckets' names without them,
    and ``unlabelled`` when it has a folder of unlabelled images."""
    if layout.split_folders:
        names = {layout.split_of(folder) for folder in layout.split_folders}
    else:
        names = set(split_buckets)
    return sorted(names | ({contract.UNLABELLED_SPLIT} if layout.unlabelled_folder else set()))


def check_classes(root: str, classes: Sequence[str], class_separator: str) -> None:
    """Raises the one-line DataError of a dataset with fewer than the 2 classes evaluation needs."""
    if len(classes) < 2:
        raise DataError(
            f"dataset {root} has {len(classes)} class(es) {list(classes)}: SimCLR evaluation needs at least 2; "
            f"use class folders or <class>{class_separator}<anything>.<ext> file names"
        )


def plan_dataset(
    root: str,
    class_separator: str = "_",
    relative_paths: Optional[List[str]] = None,
    eval_split: str = "test",
    labels_file: Optional[str] = None,
) -> DatasetPlan:
    """Works out the split and class of every file below root, listing it in this process.

    For tools and tests on small folders; ingestion plans only the layout (``plan_layout``)
    and lets its Beam job list and locate the files. A val/ folder stands in for a missing
    eval_split/; ``labels_file`` (a CSV of relative path, class) names the classes of files in no class folder.
    """
    relative_paths = list_files(root) if relative_paths is None else relative_paths
    visible = [rel for rel in relative_paths if not _hidden(rel)]
    if not visible:
        raise DataError(f"dataset {root} has no files: point --data at a folder of images")
    layout = _layout(
        root, {rel.split("/")[0] for rel in visible if "/" in rel}, class_separator, eval_split, labels_file
    )
    labels = read_labels_file(labels_file) if labels_file else None
    files: List[SourceFile] = []
    ignored: List[IgnoredFile] = []
    for rel in relative_paths:
        located = locate(rel, layout, labels)
        if isinstance(located, SourceFile):
            files.append(located)
        else:
            ignored.append(located)

    classes = tuple(sorted({f.label for f in files if f.label is not None}))
    if not files:
        raise DataError(f"dataset {root} has no image files inside its split folders {list(layout.split_folders)}")
    check_classes(root, classes, class_separator)
    return DatasetPlan(root, tuple(files), tuple(ignored), classes, bool(layout.split_folders), layout)


def hash_split(key: str, split_buckets: Dict[str, int]) -> str:
    """Deterministic split for a key (a content hash): the same key always lands in the same split."""
    total = sum(split_buckets.values())
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) % total
    for name in sorted(split_buckets):
        bucket -= split_buckets[name]
        if bucket < 0:
            return name
    raise AssertionError("unreachable")


@dataclasses.dataclass(frozen=True)
class Survey:
    """One listing of a dataset folder: its fingerprint and how many bytes sit below each top-level name."""

    fingerprint: str  # a digest of every file's relative path, size and modification time, in any order
    folder_bytes: Dict[str, int]  # top-level folder (or "" for files directly in root) -> bytes


def survey(root: str) -> Survey:
    """Lists root once, streaming (local or gs://): a fingerprint for change detection and sizes for shard planning.

    The fingerprint sums each file's sha256 (mod 2**256) with the file count, so it needs neither the
    whole listing in memory nor a sorted one: memory is one listing page, however large the folder.
    """
    total, count = 0, 0
    folder_bytes: Dict[str, int] = {}

    def add(rel: str, size: int, stamp) -> None:
        nonlocal total, count
        entry = hashlib.sha256(f"{rel}\0{size}\0{stamp}".encode()).digest()
        total = (total + int.from_bytes(entry, "big")) % (1 << 256)
        count += 1
        top = rel.split("/")[0] if "/" in rel else ""
        folder_bytes[top] = folder_bytes.get(top, 0) + size

    if root.startswith("gs://"):
        for rel, size, stamp in gcs_objects(root):
            add(rel, size, stamp)
    else:
        if not os.path.isdir(root):
            raise DataError(f"dataset path {root} does not exist or is not a folder: pass --data with an image folder")
        for rel in iter_files(root):
            try:
                stat = os.stat(os.path.join(root, rel))
                add(rel, stat.st_size, stat.st_mtime_ns)
            except OSError as error:  # unreadable: rejected later, but still part of the dataset
                add(rel, 0, f"unreadable {error.errno}")
    return Survey(hashlib.sha256(f"{count}\0{total:064x}".encode()).hexdigest(), folder_bytes)


def fingerprint(root: str) -> str:
    """A cheap fingerprint of a dataset's file list and sizes, for cache keys and change detection."""
    return survey(root).fingerprint
