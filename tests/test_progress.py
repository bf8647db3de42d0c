"""A local run's progress lines, read from MLMD's executions rather than TFX's log text."""

from ml_metadata.proto import metadata_store_pb2

from pipeline.progress import progress_lines

ORDER = ("DataFingerprint", "ImageExampleGen", "Trainer")


def execution(state: str, created_ms: int, updated_ms: int) -> metadata_store_pb2.Execution:
    return metadata_store_pb2.Execution(
        last_known_state=metadata_store_pb2.Execution.State.Value(state),
        create_time_since_epoch=created_ms,
        last_update_time_since_epoch=updated_ms,
    )


def test_each_component_is_reported_once_running_and_once_done_with_its_place_and_duration():
    reported = {}
    first = progress_lines(ORDER, reported, {"DataFingerprint": execution("RUNNING", 1000, 1000)})
    again = progress_lines(ORDER, reported, {"DataFingerprint": execution("RUNNING", 1000, 1500)})
    done = progress_lines(
        ORDER,
        reported,
        {"DataFingerprint": execution("COMPLETE", 1000, 3500), "ImageExampleGen": execution("RUNNING", 3600, 3600)},
    )
    assert first == ["(1/3) DataFingerprint running"] and again == []
    assert done == ["(1/3) DataFingerprint complete after 2.5s", "(2/3) ImageExampleGen running"]


def test_a_component_that_ended_between_polls_is_reported_done_only():
    lines = progress_lines(
        ORDER, {}, {"ImageExampleGen": execution("CACHED", 0, 200), "Trainer": execution("FAILED", 300, 4300)}
    )
    assert lines == ["(2/3) ImageExampleGen cached after 0.2s", "(3/3) Trainer failed after 4.0s"]
