"""docs/settings.md is what the config classes say of themselves, never a copy that drifts."""

import pathlib

from pipeline import settings_reference
from pipeline.config import PipelineConfig

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def test_the_settings_reference_is_generated_from_the_config_classes():
    expected = settings_reference.render()
    assert (DOCS / "settings.md").read_text() == expected, (
        "docs/settings.md is stale: run `python -m pipeline.settings_reference > docs/settings.md`"
    )


def test_every_setting_is_described():
    rows = list(settings_reference.rows(PipelineConfig))
    assert len(rows) > 80 and {"training.encoder.image_size", "registry.model_root"} <= {r[0] for r in rows}
    assert [setting for setting, kind, _, description in rows if kind != "section" and not description] == []
