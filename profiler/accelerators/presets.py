"""Accelerator presets: the published speed figures the simulated server's timing comes from."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from profiler.errors import UsageError

_POSITIVE_FIELDS = ("prefill_tok_s", "decode_tok_s", "aggregate_tok_s")
_SYNTHETIC_BEFORE_THE_FLAG = ("instant",)  # run manifests written before presets said `synthetic`
TIMING_FIELDS = ("ttft_s", *_POSITIVE_FIELDS, "max_batch")


@dataclass(frozen=True)
class Price:
    """A published price: per million tokens (an API) or per accelerator-hour (self-hosted)."""

    source: str
    date: str
    input_per_mtok: float | None = None
    output_per_mtok: float | None = None
    per_accelerator_hour: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if value is not None}


@dataclass(frozen=True)
class Preset:
    """Timing of one serving replica.

    Per-stream decode speed is `decode_tok_s` while few streams decode and falls to
    `aggregate_tok_s / n` once n streams would exceed the aggregate; requests beyond
    `max_batch` queue.
    """

    name: str
    model: str
    ttft_s: float
    prefill_tok_s: float
    decode_tok_s: float
    aggregate_tok_s: float
    max_batch: int
    source: str
    description: str = ""
    accelerators_per_replica: int = 1
    estimated: tuple[str, ...] = field(default_factory=tuple)  # "field[, field]: why it is assumed"
    self_hosted: bool = False  # you run the serving engine (and need its CPU cores), vs an API service
    synthetic: bool = False  # no model latency at all (`instant`): nothing to size an accelerator from
    accelerator: str = ""  # what one accelerator is, where published; else the unit is one API replica
    price: Price | None = None

    def assumed(self, *fields: str) -> list[str]:
        """The `estimated` notes about any of `fields`."""
        return [note for note in self.estimated if set(fields) & {f.strip() for f in note.split(":")[0].split(",")}]

    def stream_rate(self, decoding_streams: int) -> float:
        """Tokens/s of each stream when `decoding_streams` decode at once."""
        if decoding_streams <= 0:
            return self.decode_tok_s
        return min(self.decode_tok_s, self.aggregate_tok_s / decoding_streams)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "description": self.description,
            "ttft_s": self.ttft_s,
            "prefill_tok_s": self.prefill_tok_s,
            "decode_tok_s": self.decode_tok_s,
            "aggregate_tok_s": self.aggregate_tok_s,
            "max_batch": self.max_batch,
            "accelerators_per_replica": self.accelerators_per_replica,
            "self_hosted": self.self_hosted,
            "synthetic": self.synthetic,
            "accelerator": self.accelerator,
            "source": self.source,
            "price": self.price.to_dict() if self.price else None,
            "estimated": list(self.estimated),
        }


def preset_from_dict(data: dict[str, Any], *, name: str | None = None, origin: str = "preset") -> Preset:
    """Validate a preset mapping; every problem names the field."""
    if not isinstance(data, dict):
        raise UsageError(f"{origin}: expected a JSON object with preset fields")
    preset_name = name or data.get("name")
    if not isinstance(preset_name, str) or not preset_name:
        raise UsageError(f"{origin}: missing field 'name'")

    def number(key: str, *, positive: bool) -> float:
        if key not in data:
            raise UsageError(f"{origin}: missing field '{key}'")
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise UsageError(f"{origin}: field '{key}' must be a number, got {value!r}")
        if positive and value <= 0:
            raise UsageError(f"{origin}: field '{key}' must be > 0, got {value!r}")
        if not positive and value < 0:
            raise UsageError(f"{origin}: field '{key}' must be >= 0, got {value!r}")
        return float(value)

    ttft = number("ttft_s", positive=False)
    rates = {key: number(key, positive=True) for key in _POSITIVE_FIELDS}
    max_batch = number("max_batch", positive=True)
    if max_batch != int(max_batch):
        raise UsageError(f"{origin}: field 'max_batch' must be a whole number, got {data['max_batch']!r}")
    per_replica = data.get("accelerators_per_replica", 1)
    if isinstance(per_replica, bool) or not isinstance(per_replica, int) or per_replica <= 0:
        raise UsageError(f"{origin}: field 'accelerators_per_replica' must be a whole number > 0")
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        raise UsageError(f"{origin}: missing field 'source' (say where the figures come from)")
    model = data.get("model", preset_name)
    if not isinstance(model, str) or not model:
        raise UsageError(f"{origin}: field 'model' must be a non-empty string")
    estimated = data.get("estimated", [])
    if not isinstance(estimated, list) or not all(isinstance(e, str) for e in estimated):
        raise UsageError(f"{origin}: field 'estimated' must be a list of strings")
    self_hosted = data.get("self_hosted", False)
    synthetic = data.get("synthetic", preset_name in _SYNTHETIC_BEFORE_THE_FLAG)
    for key, flag in (("self_hosted", self_hosted), ("synthetic", synthetic)):
        if not isinstance(flag, bool):
            raise UsageError(f"{origin}: field '{key}' must be true or false")
    accelerator = data.get("accelerator", "")
    if not isinstance(accelerator, str):
        raise UsageError(f"{origin}: field 'accelerator' must be a string (what one accelerator is)")
    return Preset(
        name=preset_name,
        self_hosted=self_hosted,
        synthetic=synthetic,
        accelerator=accelerator,
        price=_price(data.get("price"), origin),
        model=model,
        ttft_s=ttft,
        max_batch=int(max_batch),
        source=source,
        description=str(data.get("description", "")),
        accelerators_per_replica=per_replica,
        estimated=tuple(estimated),
        **rates,
    )


def _price(data: Any, origin: str) -> Price | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise UsageError(f"{origin}: field 'price' must be an object")
    for key in ("source", "date"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise UsageError(f"{origin}: field 'price.{key}' is missing (say where and when the price was published)")
    rates: dict[str, float] = {}
    for key in ("input_per_mtok", "output_per_mtok", "per_accelerator_hour"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise UsageError(f"{origin}: field 'price.{key}' must be a number >= 0, got {value!r}")
        rates[key] = float(value)
    per_token = "input_per_mtok" in rates and "output_per_mtok" in rates
    if per_token == ("per_accelerator_hour" in rates):
        raise UsageError(
            f"{origin}: field 'price' needs input_per_mtok and output_per_mtok (an API), "
            "or per_accelerator_hour (self-hosted)"
        )
    return Price(source=data["source"], date=data["date"], **rates)


def builtin_presets() -> dict[str, Preset]:
    """The presets shipped with orchestrace, by name, in file order."""
    text = resources.files("profiler.accelerators").joinpath("presets.json").read_text(encoding="utf-8")
    raw: dict[str, Any] = json.loads(text)
    return {name: preset_from_dict(body, name=name, origin=f"built-in preset {name}") for name, body in raw.items()}


def recorded_preset(data: dict[str, Any]) -> Preset:
    """The preset a run's manifest recorded; fields added to presets since come from the built-in
    preset of that name (a run recorded before presets said what one accelerator is)."""
    preset = preset_from_dict(data, origin="the run's preset")
    builtin = builtin_presets().get(preset.name)
    if "accelerator" not in data and builtin is not None:
        preset = replace(preset, accelerator=builtin.accelerator)
    return preset


def real_presets() -> list[Preset]:
    """The built-in presets of real accelerators (all but the synthetic `instant`)."""
    return [preset for preset in builtin_presets().values() if not preset.synthetic]


def load_preset(spec: str) -> Preset:
    """A built-in preset name, or a path to a JSON preset file."""
    presets = builtin_presets()
    if spec in presets:
        return presets[spec]
    path = Path(spec)
    if spec.endswith(".json") or path.exists():
        if not path.is_file():
            raise UsageError(f"preset file {spec} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"preset file {spec} is not valid JSON: {exc}") from None
        return preset_from_dict(
            data, name=data.get("name") if isinstance(data, dict) else None, origin=f"preset file {spec}"
        )
    raise UsageError(f"unknown preset '{spec}'; valid names: {', '.join(presets)} (or a path to a JSON file)")
