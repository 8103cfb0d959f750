"""The fuzzed readers of tests/data/test_fuzz_readers.py with many more examples, each run drawing
new ones (not derandomized): `make test-slow`."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.data.test_fuzz_readers import (
    arrays,
    check_arrays,
    check_export_json,
    check_export_weights,
    check_folder,
    check_idx,
    check_idx_folder,
    check_picture,
    check_yaml,
    idx_files,
    maybe_gzipped,
    model_jsons,
    pictures,
    safetensors_files,
    yaml_files,
)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning:PIL")]
SLOW_EXAMPLES = 400
MANY = settings(max_examples=SLOW_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@MANY
@given(pictures)
def test_any_picture_file_reads_or_is_one_image_error_line(case):
    check_picture(case[1], case[0])


@MANY
@given(arrays)
def test_any_array_file_loads_or_is_one_data_error_line(case):
    check_arrays(case[1], case[0])


@MANY
@given(maybe_gzipped())
def test_any_idx_file_reads_or_is_one_data_error_line(case):
    check_idx(case[1], case[0])


@MANY
@given(idx_files, idx_files, st.sampled_from(["", ".gz"]))
def test_any_idx_folder_loads_or_is_one_data_error_line(images, labels, suffix):
    check_idx_folder(images[1], labels[1], suffix)


@MANY
@given(model_jsons)
def test_any_model_json_reads_or_is_one_export_error_line(data):
    check_export_json(data)


@MANY
@given(safetensors_files())
def test_any_safetensors_file_loads_or_is_one_export_error_line(data):
    check_export_weights(data)


@MANY
@given(yaml_files)
def test_any_config_file_reads_or_is_one_config_error_line(data):
    check_yaml(data)


@MANY
@given(pictures)
def test_a_picture_folder_with_any_picture_loads_or_is_one_data_error_line(case):
    check_folder(case[1], case[0])
