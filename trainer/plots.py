"""PNG plots written into run artifacts."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def loss_curve(history, path: str, title: str = "SimCLR pretraining") -> None:
    """NT-Xent loss and contrastive accuracy per epoch."""
    epochs = [h["epoch"] for h in history]
    figure, loss_axis = plt.subplots(figsize=(7, 4))
    loss_axis.plot(epochs, [h["loss"] for h in history], color="tab:blue", label="NT-Xent loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("loss", color="tab:blue")
    accuracy_axis = loss_axis.twinx()
    accuracy_axis.plot(epochs, [h["contrastive_accuracy"] for h in history], color="tab:orange", label="contrastive top-1")
    accuracy_axis.set_ylabel("contrastive top-1", color="tab:orange")
    accuracy_axis.set_ylim(0, 1)
    loss_axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
