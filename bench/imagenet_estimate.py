"""Estimate: hours and cost of pretraining under a Vertex AI config (default: imagenet).

Nothing here runs on a TPU; the estimate scales the one large run the SimCLR paper times:
"With 128 TPU v3 cores, it takes ~1.5 hours to train our ResNet-50 with a batch size of
4096 for 100 epochs" (Chen et al. 2020, section 2.2). Steps:
  1. FLOPs per training image, counted by TensorFlow's profiler (bench/flops.py) on the
     config's encoder and head and on the paper's (ResNet-50 at 224 px, head 2048-2048-128):
     each view's forward pass, x 3 for the backward pass.
  2. The paper's achieved fraction of peak: its FLOPs over 1.5 h, against 64 TPU v3 chips'
     published bf16 peak.
  3. The config's training time: its FLOPs (images x epochs) over the preset's chips' peak at
     that same fraction. The cost is chip-hours times --usd-per-chip-hour, an input: check it
     on the Vertex AI pricing page for the region (nothing here can reach it).
Only the Trainer is estimated: ingestion, statistics, Transform and embedding run on Dataflow CPUs.

    python bench/imagenet_estimate.py [--config imagenet] [--usd-per-chip-hour 1.2] [--images 1281167]

The last line printed is one JSON object.
"""

import argparse
import json
import pathlib
import re
import tempfile

from flops import training_flops_per_image

from pipeline import config as pipeline_config  # noqa: E402
from trainer.heads import build_projection_head  # noqa: E402
from trainer.resnet import build_resnet  # noqa: E402

IMAGENET_TRAIN_IMAGES = 1_281_167
# Published bf16 peak per chip (Cloud TPU system architecture pages).
PEAK_TFLOPS_PER_CHIP = {"v3": 123.0, "v5e": 197.0}
CHIP_OF_MACHINE = {"cloud-tpu": "v3", "ct5lp": "v5e"}  # TPU_V3 machines have 2 cores per chip
PAPER = {"chips": 64, "chip": "v3", "hours": 1.5, "epochs": 100, "image_size": 224, "head": [2048, 2048, 128]}


def load_template(name: str):
    """A shipped config, its <placeholders> filled with 'example' (they name cloud resources, not settings)."""
    folder = pathlib.Path(tempfile.mkdtemp())
    for path in pipeline_config.CONFIG_DIR.glob("*.yaml"):
        (folder / path.name).write_text(re.sub(r"<[a-z]+>", "example", path.read_text()))
    return pipeline_config.load_config(str(folder / f"{name}.yaml"))


def flops_per_image(
    depth: int, width: float, image_size: int, stem: str, head_widths, local_views: int = 0, local_size: int = 32
) -> float:
    """Training FLOPs of one image: two views at image_size and ``local_views`` at local_size."""
    encoder = build_resnet(depth, width, image_size, stem=stem)
    head = build_projection_head(encoder.output_shape[-1], list(head_widths), True, False)
    flops = training_flops_per_image(encoder, head, image_size, views=2)
    if local_views:
        flops += training_flops_per_image(encoder, head, local_size, views=local_views)
    return flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="imagenet")
    parser.add_argument(
        "--usd-per-chip-hour",
        type=float,
        default=1.2,
        help="TPU price per chip-hour (default: a v5e on-demand list price; check yours)",
    )
    parser.add_argument("--images", type=int, default=IMAGENET_TRAIN_IMAGES)
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="count FLOPs at 32 px instead of each network's size (a quick check, not an estimate)",
    )
    args = parser.parse_args()

    config = load_template(args.config)
    training, machine = config.training, config.vertex.trainer.machine_spec
    chip = next(kind for prefix, kind in CHIP_OF_MACHINE.items() if machine["machine_type"].startswith(prefix))
    replicas = config.vertex.trainer.replicas
    chips = replicas // 2 if chip == "v3" else replicas

    paper_size = 32 if args.tiny else PAPER["image_size"]
    paper_per_image = flops_per_image(50, 1.0, paper_size, "imagenet", PAPER["head"])
    paper_flops = paper_per_image * IMAGENET_TRAIN_IMAGES * PAPER["epochs"]
    paper_peak = PAPER["chips"] * PEAK_TFLOPS_PER_CHIP[PAPER["chip"]] * 1e12
    fraction = paper_flops / (PAPER["hours"] * 3600) / paper_peak

    encoder, augment = training.encoder, training.augment
    per_image = flops_per_image(
        encoder.depth,
        encoder.width_multiplier,
        32 if args.tiny else encoder.image_size,
        encoder.stem,
        training.head.widths,
        augment.local_views,
        augment.local_view_size,
    )
    total = per_image * args.images * training.epochs
    hours = total / (chips * PEAK_TFLOPS_PER_CHIP[chip] * 1e12 * fraction) / 3600
    result = {
        "config": args.config,
        "machine": machine,
        "chips": chips,
        "chip": chip,
        "batch_size": training.batch_size,
        "epochs": training.epochs,
        "images": args.images,
        "training_gflop_per_image": round(per_image / 1e9, 2),
        "paper_gflop_per_image": round(paper_per_image / 1e9, 2),
        "paper_peak_fraction": round(fraction, 3),
        "hours": round(hours, 1),
        "chip_hours": round(hours * chips, 1),
        "usd_per_chip_hour": args.usd_per_chip_hour,
        "usd": round(hours * chips * args.usd_per_chip_hour),
    }
    print(
        f"{args.config}: {training.epochs} epochs of {args.images:,} images at {per_image / 1e9:.1f} GFLOP each "
        f"on {chips} TPU {chip} chips at the paper's {fraction:.1%} of peak: {hours:.1f} h, "
        f"{hours * chips:.0f} chip-hours, ${hours * chips * args.usd_per_chip_hour:,.0f} at "
        f"${args.usd_per_chip_hour}/chip-hour"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
