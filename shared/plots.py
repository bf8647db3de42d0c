"""PNG plots written into run artifacts (a path or a gs:// URI)."""

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from shared import uri_io  # noqa: E402

LABELLED_CLASSES = 20  # confusion matrices with more classes are drawn without names or counts


def loss_curve(history, path: str, title: str = "SimCLR pretraining") -> None:
    """NT-Xent loss and contrastive accuracy per epoch."""
    epochs = [h["epoch"] for h in history]
    figure, loss_axis = plt.subplots(figsize=(7, 4))
    loss_axis.plot(epochs, [h["loss"] for h in history], color="tab:blue", label="NT-Xent loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("loss", color="tab:blue")
    accuracy_axis = loss_axis.twinx()
    accuracy_axis.plot(
        epochs, [h["contrastive_accuracy"] for h in history], color="tab:orange", label="contrastive top-1"
    )
    accuracy_axis.set_ylabel("contrastive top-1", color="tab:orange")
    accuracy_axis.set_ylim(0, 1)
    loss_axis.set_title(title)
    figure.tight_layout()
    uri_io.save_figure(figure, path)
    plt.close(figure)


def confusion_matrix(matrix, class_names, path: str, title: str) -> None:
    """Counts of (true class, predicted class): annotated with names and counts up to LABELLED_CLASSES
    classes; beyond that a fixed-size heat map without labels (the counts are in the CSV beside it)."""
    labelled = len(class_names) <= LABELLED_CLASSES
    side = len(class_names) if labelled else LABELLED_CLASSES
    figure, axis = plt.subplots(figsize=(1.2 * side + 2, 1.1 * side + 1.5))
    axis.imshow(matrix, cmap="Blues", interpolation="nearest")
    if labelled:
        axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
        axis.set_yticks(range(len(class_names)), class_names)
        for (row, column), count in np.ndenumerate(matrix):
            color = "white" if count > matrix.max() / 2 else "black"
            axis.text(column, row, str(count), ha="center", va="center", color=color)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    figure.tight_layout()
    uri_io.save_figure(figure, path)
    plt.close(figure)


def embedding_scatter(points, labels, class_names, path: str, title: str) -> None:
    """2-D points (a t-SNE of the features) coloured by class."""
    figure, axis = plt.subplots(figsize=(6.5, 5.5))
    for label, name in enumerate(class_names):
        chosen = labels == label
        axis.scatter(points[chosen, 0], points[chosen, 1], s=10, label=name)
    axis.legend(markerscale=2, fontsize="small")
    axis.set_xticks([])
    axis.set_yticks([])
    axis.set_title(title)
    figure.tight_layout()
    uri_io.save_figure(figure, path)
    plt.close(figure)
