"""The command line as a user meets it: help everywhere, one-line errors, exit codes."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow(minutes=1)


def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *argv], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["ingest"],
        ["run"],
        ["schema"],
        ["schema", "export"],
        ["registry"],
        ["registry", "list"],
        ["registry", "show"],
        ["registry", "promote"],
        ["registry", "rollback"],
    ],
)
def test_every_command_has_help(command):
    result = _cli(*command, "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: simclr-tfx")


def test_missing_dataset_is_one_line_and_exit_2(tmp_path):
    result = _cli("ingest", "--data", str(tmp_path / "nope"), "--output", str(tmp_path / "out"))
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"simclr-tfx: error: dataset path {tmp_path / 'nope'} does not exist: pass --data with an image folder"
    )


def test_unknown_config_names_the_choices(tmp_path):
    result = _cli("ingest", "--config", "nonsense", "--data", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(
        "simclr-tfx: error: unknown config 'nonsense': use one of benchmark, imagenet, local, long, scale, seed, smoke"
    )


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("ingest: {max_pixels: -3}\n", "setting 'ingest.max_pixels': Input should be greater than 0"),
        ("ingest: {max_pixel: 3}\n", "setting 'ingest.max_pixel': Extra inputs are not permitted"),
        ("transform: [1, 2\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping of settings"),
    ],
)
def test_bad_config_file_names_the_file_and_setting(tmp_path, yaml_text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    result = _cli("ingest", "--config", str(config), "--data", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and str(config) in line and message in line


def test_a_config_extends_another(tmp_path):
    from pipeline.config import ConfigError, load_config

    (tmp_path / "base.yaml").write_text("extends: local\npipeline_name: base\ntraining: {epochs: 7}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\ntraining: {batch_size: 32}\n")
    child, local = load_config(str(tmp_path / "child.yaml")), load_config("local")
    assert child.pipeline_name == "base" and child.training.epochs == 7 and child.training.batch_size == 32
    assert child.training.encoder == local.training.encoder  # the rest is local's, merged section by section
    benchmark = load_config("benchmark")
    assert benchmark.supervised_baseline and benchmark.training == local.training and local.supervised_baseline is None

    (tmp_path / "base.yaml").write_text("extends: child.yaml\n")
    with pytest.raises(ConfigError, match="base.yaml: setting 'extends': 'child.yaml' makes a cycle"):
        load_config(str(tmp_path / "child.yaml"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.yaml").write_text("extends: ../outer.yaml\n")
    (tmp_path / "outer.yaml").write_text("extends: sub/inner.yaml\n")  # the same file spelt another way
    with pytest.raises(ConfigError, match="inner.yaml: setting 'extends': '../outer.yaml' makes a cycle"):
        load_config(str(tmp_path / "outer.yaml"))


def test_named_configs_load():
    from pipeline.config import ConfigError, available_configs, load_config

    for name in available_configs():
        if name in ("vertex", "imagenet"):  # templates until their placeholders are filled in (tests/test_vertex.py)
            with pytest.raises(ConfigError, match="replace the placeholder"):
                load_config(name)
        else:
            assert load_config(name).pipeline_name


def test_registry_commands_on_an_empty_registry_explain_themselves(tmp_path):
    listed = _cli("registry", "list", "--registry", str(tmp_path))
    assert listed.returncode == 0 and "no versions of simclr-encoder" in listed.stdout
    rollback = _cli("registry", "rollback", "--registry", str(tmp_path))
    assert rollback.returncode == 2 and "Traceback" not in rollback.stderr
    assert rollback.stderr.strip() == "simclr-tfx: error: model simclr-encoder has no earlier champion to roll back to"
    show = _cli("registry", "show", "--registry", str(tmp_path))
    assert show.returncode == 2 and "has no champion: name a version" in show.stderr


def test_a_relative_registry_root_is_pinned_to_the_working_directory(tmp_path, monkeypatch):
    import argparse

    from pipeline.commands.common import load_run_config

    monkeypatch.chdir(tmp_path)
    config = load_run_config(argparse.Namespace(config="local", data=None, output=None, registry=None))
    assert config.registry.root == str(tmp_path / "registry")
    given = load_run_config(argparse.Namespace(config="local", data=None, output=None, registry="elsewhere"))
    assert given.registry.root == str(tmp_path / "elsewhere")
