"""Every command that touches GCS or Vertex AI ends a cloud failure in one line that says what to do.

The failures are real: credentials removed from the environment, and the Vertex AI fake
(pipeline/offline_cloud/fake_vertex.py, rules R11 and R12) and the GCS fake answering as the services do.
"""

import pytest
from conftest import GCS_BUCKET

from pipeline import cli
from pipeline.cloud_errors import CREDENTIALS

pytestmark = pytest.mark.slow(minutes=1)

MODEL_ROOT = f"gs://{GCS_BUCKET}/models"


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    """A machine where `gcloud auth application-default login` never ran, off Google Cloud."""
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "SIMCLR_VERTEX_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # where the ADC file would be
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # google-auth: do not probe for a metadata server


def registry_config(tmp_path, project="p"):
    config = tmp_path / "vertex-registry.yaml"
    config.write_text(
        f"registry: {{kind: vertex, project: {project}, region: europe-west4, model_name: encoder, "
        f"model_root: {MODEL_ROOT}}}\n"
    )
    return str(config)


def one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_a_registry_command_without_credentials_says_how_to_log_in(tmp_path, no_credentials, capsys):
    assert cli.main(["registry", "list", "--config", registry_config(tmp_path)]) == cli.EXIT_CLOUD_ERROR
    assert one_error_line(capsys) == f"simclr-tfx: error: {CREDENTIALS}"


@pytest.mark.parametrize("command", ["ingest", "run"])
def test_reading_a_bucket_without_credentials_says_how_to_log_in(
    tmp_path, no_credentials, capsys, write_config, command
):
    code = cli.main(
        [command, "--config", write_config(), "--data", "gs://a-bucket/images", "--output", str(tmp_path / "r")]
    )
    assert code == cli.EXIT_CLOUD_ERROR
    assert one_error_line(capsys) == f"simclr-tfx: error: {CREDENTIALS}"


@pytest.fixture
def vertex_api(tmp_path, monkeypatch):
    from pipeline.offline_cloud.fake_vertex import FakeVertex

    def start(**options):
        fake = FakeVertex(str(tmp_path / "vertex.json"), "p", "europe-west4", **options).start()
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        return fake

    started = []
    yield lambda **options: started.append(start(**options)) or started[-1]
    for fake in started:
        fake.stop()


def test_a_project_the_account_cannot_see_is_permission_denied_in_one_line(tmp_path, vertex_api, capsys):
    vertex_api()
    code = cli.main(["registry", "list", "--config", registry_config(tmp_path, project="someone-elses")])
    line = one_error_line(capsys)
    assert code == cli.EXIT_CLOUD_ERROR and line.startswith("simclr-tfx: error: permission denied: ")
    assert "someone-elses" in line and "submitters" in line


def test_a_disabled_vertex_api_names_the_command_that_enables_it(tmp_path, vertex_api, capsys):
    vertex_api(api_enabled=False)
    code = cli.main(["registry", "show", "--config", registry_config(tmp_path)])
    line = one_error_line(capsys)
    assert code == cli.EXIT_CLOUD_ERROR
    assert "`gcloud services enable aiplatform.googleapis.com`" in line


def test_a_missing_bucket_is_not_found_in_one_line(tmp_path, gcs, capsys, write_config):
    code = cli.main(
        ["ingest", "--config", write_config(), "--data", "gs://no-such-bucket/images", "--output", str(tmp_path / "r")]
    )
    line = one_error_line(capsys)
    assert code in (cli.EXIT_CLOUD_ERROR, cli.EXIT_USER_ERROR)
    assert "gs://no-such-bucket/images" in line


def test_embedding_with_a_model_on_gcs_without_credentials_says_how_to_log_in(tmp_path, no_credentials, capsys):
    (tmp_path / "images").mkdir()
    argv = ["embed", "--model", "gs://a-bucket/models/x", "--data", str(tmp_path / "images")]
    assert cli.main([*argv, "--output", str(tmp_path / "out")]) == cli.EXIT_CLOUD_ERROR
    assert one_error_line(capsys) == f"simclr-tfx: error: {CREDENTIALS}"
