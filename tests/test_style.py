"""Style files: our safetensors reader/writer agree with the reference package, and
anything malformed or hostile is refused with a one-line StyleError, executing nothing."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import safetensors.numpy

from neural_aesthetics.core.render import cppn, style
from neural_aesthetics.core.errors import UserError


def _procedural_style(directory, name="test_style", seed=7):
    architecture = dict(cppn.default_architecture(), width=32)  # small files, shapes the messages name
    weights = cppn.random_weights(architecture, seed)
    metadata = {"label": f"Test, seed {seed}", "origin": "procedural", "objective": {"kind": "procedural", "seed": seed},
                "seed": seed}
    thumbnail = np.full((9, 16, 3), 128, dtype=np.uint8)
    return style.save_style(directory, name, architecture, weights, metadata, thumbnail), architecture, weights


def _assert_one_line_error(error: pytest.ExceptionInfo, *fragments: str):
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


# --- safetensors interoperability --------------------------------------------------------


def test_our_safetensors_file_loads_in_reference_package(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {"b": rng.standard_normal((3, 5)).astype(np.float32), "a": rng.standard_normal(7).astype(np.float32),
               "empty": np.zeros((0, 4), np.float32), "scalar": np.float32(2.5) * np.ones((), np.float32)}
    path = tmp_path / "ours.safetensors"
    style.write_safetensors(path, tensors, {"note": "hello"})

    loaded = safetensors.numpy.load_file(str(path))
    assert sorted(loaded) == sorted(tensors)
    for name, array in tensors.items():
        assert loaded[name].dtype == np.float32
        np.testing.assert_array_equal(loaded[name], array)


def test_reference_package_file_loads_in_our_reader(tmp_path):
    rng = np.random.default_rng(1)
    tensors = {"layer0.weight": rng.standard_normal((32, 11)).astype(np.float32),
               "layer0.bias": rng.standard_normal(32).astype(np.float32)}
    path = tmp_path / "theirs.safetensors"
    safetensors.numpy.save_file(tensors, str(path), metadata={"format": "pt"})

    loaded = style.read_safetensors(path)
    assert sorted(loaded) == sorted(tensors)
    for name, array in tensors.items():
        np.testing.assert_array_equal(loaded[name], array)


def test_style_round_trip(tmp_path):
    path, architecture, weights = _procedural_style(tmp_path)
    assert path == tmp_path / "test_style.safetensors"
    assert (tmp_path / "test_style.json").is_file() and (tmp_path / "test_style.png").is_file()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"

    for entry in (path, path.with_suffix(".json")):
        loaded = style.load_style(entry)
        assert loaded.name == "test_style"
        assert loaded.path == path
        assert loaded.architecture == architecture
        assert loaded.metadata["format_version"] == style.FORMAT_VERSION
        assert loaded.metadata["origin"] == "procedural"
        assert loaded.metadata["objective"] == {"kind": "procedural", "seed": 7}
        assert loaded.metadata["created"].endswith("Z")
        assert sorted(loaded.weights) == sorted(weights)
        for name, array in weights.items():
            np.testing.assert_array_equal(loaded.weights[name], array)


def test_list_styles_sorted_skips_broken_and_shadowed(tmp_path):
    first, second = tmp_path / "bundled", tmp_path / "user"
    _procedural_style(first, "zebra")
    _procedural_style(first, "alpha")
    _procedural_style(second, "alpha", seed=99)  # same name as a bundled one: the first folder wins
    _procedural_style(second, "middle")
    (second / "broken.json").write_text("{not json", encoding="utf-8")
    (second / "middle.png").unlink()

    infos = style.list_styles([first, second, tmp_path / "missing"])
    assert [info.name for info in infos] == ["alpha", "middle", "zebra"]
    assert infos[0].path == first / "alpha.safetensors"
    assert infos[0].label == "Test, seed 7" and infos[0].origin == "procedural"
    assert infos[0].thumbnail_path == first / "alpha.png"
    assert infos[1].thumbnail_path is None


# --- refusals ----------------------------------------------------------------------------


def test_truncated_weights_file_is_refused(tmp_path):
    path, _, _ = _procedural_style(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(style.StyleError) as error:
        style.load_style(path)
    _assert_one_line_error(error, str(path), "truncated")

    path.write_bytes(data[:20])  # cut inside the header
    with pytest.raises(style.StyleError) as error:
        style.load_style(path)
    _assert_one_line_error(error, str(path), "truncated")


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_wrong_format_version_is_refused(tmp_path, version):
    path, _, _ = _procedural_style(tmp_path)
    sidecar = path.with_suffix(".json")
    metadata = json.loads(sidecar.read_text(encoding="utf-8"))
    metadata["format_version"] = version
    sidecar.write_text(json.dumps(metadata), encoding="utf-8")
    with pytest.raises(style.StyleError) as error:
        style.load_style(path)
    _assert_one_line_error(error, str(sidecar), f"version {version!r}", f"reads version {style.FORMAT_VERSION}")


class _PlantsMarker:
    """Unpickling this object would create a marker file: proof that code ran."""

    def __init__(self, marker_path):
        self.marker_path = marker_path

    def __reduce__(self):
        return (open, (str(self.marker_path), "w"))


def test_pickle_renamed_to_safetensors_is_refused_without_running_it(tmp_path):
    path, _, _ = _procedural_style(tmp_path)
    marker = tmp_path / "pwned.txt"
    payload = pickle.dumps({"layer0.weight": _PlantsMarker(marker)})
    pickle.loads(payload)["layer0.weight"].close()  # the payload is live: unpickling creates the marker
    assert marker.exists()
    marker.unlink()

    path.write_bytes(payload)
    with pytest.raises(style.StyleError) as error:
        style.load_style(path)
    _assert_one_line_error(error, str(path), "not a safetensors file")
    with pytest.raises(style.StyleError):
        style.read_safetensors(path)
    assert not marker.exists()


def _raw_safetensors(path, header: dict, data: bytes = b""):
    header_bytes = json.dumps(header).encode("utf-8")
    path.write_bytes(len(header_bytes).to_bytes(8, "little") + header_bytes + data)


def test_absurd_dimensions_are_refused(tmp_path):
    path = tmp_path / "huge.safetensors"
    values = 1_000_000 * 1_000_000
    _raw_safetensors(path, {"layer1.weight": {"dtype": "F32", "shape": [1_000_000, 1_000_000],
                                              "data_offsets": [0, values * 4]}})
    with pytest.raises(style.StyleError) as error:
        style.read_safetensors(path)
    _assert_one_line_error(error, str(path), "[1000000, 1000000]", "at most")

    # A sane weights file whose sidecar asks for a layer a million units wide.
    good, _, _ = _procedural_style(tmp_path)
    sidecar = good.with_suffix(".json")
    metadata = json.loads(sidecar.read_text(encoding="utf-8"))
    metadata["architecture"]["width"] = 1_000_000
    sidecar.write_text(json.dumps(metadata), encoding="utf-8")
    with pytest.raises(style.StyleError) as error:
        style.load_style(good)
    _assert_one_line_error(error, str(sidecar), "'width'", "1000000")


@pytest.mark.parametrize(
    "header, data, fragment",
    [
        ({"w": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}}, bytes(16), "F32 only"),
        ({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8), "invalid shape"),
        ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8), "do not match its shape"),
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}, bytes(16), "gap or overlap"),
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(12), "truncated or corrupt"),
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "extra": 1}}, bytes(8), "exactly the fields"),
        ({"__metadata__": {"a": 1}}, b"", "__metadata__"),
        ([1, 2], b"", "JSON object"),
    ],
)
def test_malformed_safetensors_headers_are_refused(tmp_path, header, data, fragment):
    path = tmp_path / "bad.safetensors"
    _raw_safetensors(path, header, data)
    with pytest.raises(style.StyleError) as error:
        style.read_safetensors(path)
    _assert_one_line_error(error, str(path), fragment)


def test_non_utf8_sidecar_is_refused(tmp_path):
    path, _, _ = _procedural_style(tmp_path)
    sidecar = path.with_suffix(".json")
    sidecar.write_bytes(sidecar.read_bytes().replace(b"Test, seed 7", b"Test \xff\xfe seed 7"))
    with pytest.raises(style.StyleError) as error:
        style.load_style(path)
    _assert_one_line_error(error, str(sidecar), "not UTF-8")


def test_weights_not_matching_architecture_are_refused(tmp_path):
    path, _, weights = _procedural_style(tmp_path)
    weights["layer1.weight"] = weights["layer1.weight"][:, :16]
    style.write_safetensors(path, weights)
    with pytest.raises(style.StyleError) as error:
        style.load_style(path)
    _assert_one_line_error(error, str(path), "'layer1.weight'", "[32, 16]", "[32, 32]")


def test_missing_weights_file_is_refused(tmp_path):
    path, _, _ = _procedural_style(tmp_path)
    path.unlink()
    with pytest.raises(style.StyleError) as error:
        style.load_style(path.with_suffix(".json"))
    _assert_one_line_error(error, str(path), "not found")


def test_style_error_is_a_user_error():
    assert issubclass(style.StyleError, UserError)


def test_unsafe_style_name_is_refused(tmp_path):
    with pytest.raises(style.StyleError):
        _procedural_style(tmp_path, name="../escape")
    assert list(tmp_path.iterdir()) == []
