import json

import pytest

from profiler.accelerators.presets import builtin_presets, load_preset, preset_from_dict
from profiler.errors import UsageError

VALID = {
    "name": "x",
    "model": "m",
    "ttft_s": 0.01,
    "prefill_tok_s": 1000,
    "decode_tok_s": 100,
    "aggregate_tok_s": 1000,
    "max_batch": 8,
    "source": "a test",
}


def test_builtin_presets_cover_design_rows_and_cite_sources():
    presets = builtin_presets()
    for name in (
        "h100-llama3.1-8b",
        "h100-llama3.1-70b",
        "groq-llama3-8b",
        "groq-llama3-70b",
        "cerebras-llama3.1-8b",
        "cerebras-llama3.1-70b",
        "instant",
    ):
        assert name in presets
        assert presets[name].source.strip()
    assert presets["h100-llama3.1-8b"].decode_tok_s == 215
    assert presets["instant"].ttft_s == 0


def test_stream_rate_saturates_at_aggregate():
    preset = preset_from_dict(VALID)
    assert preset.stream_rate(1) == 100
    assert preset.stream_rate(10) == 100
    assert preset.stream_rate(20) == pytest.approx(50)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("decode_tok_s", 0, "'decode_tok_s' must be > 0"),
        ("aggregate_tok_s", -5, "'aggregate_tok_s' must be > 0"),
        ("ttft_s", -1, "'ttft_s' must be >= 0"),
        ("max_batch", 2.5, "'max_batch' must be a whole number"),
        ("prefill_tok_s", "fast", "'prefill_tok_s' must be a number"),
        ("source", "", "missing field 'source'"),
    ],
)
def test_bad_fields_are_named(field, value, message):
    with pytest.raises(UsageError, match=message):
        preset_from_dict({**VALID, field: value})


def test_missing_field_is_named():
    data = dict(VALID)
    del data["prefill_tok_s"]
    with pytest.raises(UsageError, match="missing field 'prefill_tok_s'"):
        preset_from_dict(data)


def test_unknown_preset_lists_valid_names():
    with pytest.raises(UsageError, match=r"unknown preset 'tpu'.*h100-llama3\.1-8b.*instant"):
        load_preset("tpu")


def test_preset_file_loads_and_bad_json_is_reported(tmp_path):
    good = tmp_path / "mine.json"
    good.write_text(json.dumps(VALID))
    assert load_preset(str(good)).name == "x"
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_preset(str(bad))
    with pytest.raises(UsageError, match="does not exist"):
        load_preset(str(tmp_path / "missing.json"))


def test_builtin_prices_and_accelerator_units_say_where_they_come_from():
    for preset in builtin_presets().values():
        if preset.name == "instant":
            assert preset.price is None and not preset.accelerator
            continue
        assert preset.price is not None and preset.price.source.strip() and preset.price.date.strip()
        if preset.self_hosted:  # a GPU anyone can rent: priced by the hour, cores per accelerator hold
            assert preset.price.per_accelerator_hour and preset.accelerator
        else:  # an API: priced per token, its accelerator is not a published unit
            assert preset.price.input_per_mtok is not None and preset.price.output_per_mtok is not None
            assert not preset.accelerator


def test_assumed_fields_are_found_by_name():
    preset = builtin_presets()["groq-llama3-8b"]
    assert [note.split(":")[0] for note in preset.assumed("max_batch")] == ["aggregate_tok_s, max_batch"]
    assert preset.assumed("decode_tok_s") == []  # published (cited in source)


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ({"input_per_mtok": 0.1, "output_per_mtok": 0.1, "date": "2026"}, "'price.source' is missing"),
        ({"input_per_mtok": 0.1, "source": "x", "date": "2026"}, "needs input_per_mtok and output_per_mtok"),
        ({"per_accelerator_hour": -1, "source": "x", "date": "2026"}, "'price.per_accelerator_hour' must be"),
        ({"per_accelerator_hour": 2, "input_per_mtok": 0.1, "output_per_mtok": 0.1, "source": "x", "date": "d"}, "or"),
    ],
)
def test_bad_prices_are_named(price, message):
    with pytest.raises(UsageError, match=message):
        preset_from_dict({**VALID, "price": price})


def test_a_stored_preset_loads_back():
    preset = builtin_presets()["cerebras-llama3.1-8b"]
    assert preset_from_dict(preset.to_dict(), origin="a manifest") == preset
