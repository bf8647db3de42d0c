"""Blesser: only a good-enough encoder goes on to the registry.

It blesses a model if and only if its top-1 with few labels (the blessing probe of LinearEval)
is at least a threshold and no worse than the registry's champion minus a tolerance. It records
the decision and both figures (``shared.records.Blessing``) in blessing.json, the TFX BLESSED /
NOT_BLESSED marker file and the artifact's ``blessed`` property, as the standard Evaluator does.
"""

import os
from typing import Optional

from components.private_apis import InputArtifact, OutputArtifact, Parameter, component, standard_artifacts
from components.registry.config import RegistryConfig, registry_from_config
from shared import contract, uri_io
from shared.records import BLESSABLE, Blessing, Champion


def decide(
    top1: float, min_top1: float, tolerance: float, champion: Optional[Champion], label_fraction: float
) -> Blessing:
    """The blessing decision, its reasons and the figures it compared."""
    champion_top1 = champion.top1 if champion else None
    reasons = []
    if top1 < min_top1:
        reasons.append(f"top-1 {top1:.3f} is below the threshold {min_top1:.3f}")
    if champion and champion_top1 is not None and top1 < champion_top1 - tolerance:
        reasons.append(
            f"top-1 {top1:.3f} is worse than champion version {champion.version}'s "
            f"{champion_top1:.3f} by more than {tolerance:.3f}"
        )
    met = f"top-1 {top1:.3f} meets the threshold {min_top1:.3f}" + (
        f" and champion version {champion.version}'s {champion_top1:.3f} - {tolerance:.3f}"
        if champion and champion_top1 is not None
        else " (no champion yet)"
    )
    return Blessing(
        blessed=not reasons,
        top1=top1,
        min_top1=min_top1,
        champion_tolerance=tolerance,
        champion_version=champion.version if champion else None,
        champion_top1=champion_top1,
        label_fraction=label_fraction,
        reasons=reasons or [met],
    )


@component
def Blesser(
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    min_top1: Parameter[float],
    champion_tolerance: Parameter[float],
    registry: Parameter[str],
    model_kind: Parameter[str] = "encoder",
) -> None:
    """Blesses the model iff top-1 >= min_top1 and >= champion - tolerance; records why.

    ``model_kind`` names the metrics record in ``evaluation`` (``shared.records.BLESSABLE``): LinearEval's for
    the encoder, FineTuner's for the classifier; either way its ``blessing_metric`` is judged."""
    blessable = BLESSABLE[model_kind]
    measured = blessable.record.read(os.path.join(evaluation.uri, blessable.file)).blessing_metric  # type: ignore[attr-defined]
    champion = registry_from_config(RegistryConfig.model_validate_json(registry)).champion()
    decision = decide(measured.top1_mean, min_top1, champion_tolerance, champion, measured.label_fraction)
    decision.write(os.path.join(blessing.uri, contract.BLESSING_FILE))
    marker = "BLESSED" if decision.blessed else "NOT_BLESSED"
    uri_io.write_text(os.path.join(blessing.uri, marker), "")  # an empty marker file, as the TFX Evaluator writes
    blessing.set_int_custom_property("blessed", int(decision.blessed))
    blessing.set_string_custom_property("reason", "; ".join(decision.reasons))
