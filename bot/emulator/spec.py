"""Bot API spec (``api.json``, Bot API 10.1) loading, parameter decoding and validation.

PTB sends ``application/x-www-form-urlencoded`` (or multipart when uploading)
where every non-string value is JSON-encoded.  Telegram decodes each value
according to the declared type of the parameter, so a ``String`` parameter keeps
the raw text (``text='42'`` stays a string) while ``Integer``/``Boolean``/objects
are JSON-decoded.  This module reproduces that and then validates the result
recursively against the object definitions in the spec.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["ApiSpec", "DecodeError", "UploadedFile"]

_PRIMITIVES = {"Integer", "String", "Boolean", "Float", "True"}
_DISCRIMINATOR_RE = re.compile(r"must be (?:always )?[\"“]?([a-z_]+)[\"”]?")


@dataclass(frozen=True)
class UploadedFile:
    """A file that arrived as a multipart part (what ``InputFile`` means on the wire)."""

    field: str
    filename: str
    content: bytes
    content_type: str | None = None


class DecodeError(ValueError):
    """A parameter could not be decoded from its wire form."""


def _type_label(types: list[str]) -> str:
    return " or ".join(types)


class ApiSpec:
    """The parsed Bot API description.  Use :meth:`load` for the cached instance."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.version: str = data.get("version", "")
        self.methods: dict[str, dict[str, Any]] = data["methods"]
        self.types: dict[str, dict[str, Any]] = data["types"]
        # Telegram method names are case-insensitive.
        self._method_by_lower = {name.lower(): name for name in self.methods}

    @staticmethod
    @functools.lru_cache(maxsize=1)
    def load() -> ApiSpec:
        text = resources.files(__package__).joinpath("api.json").read_text(encoding="utf-8")
        return ApiSpec(json.loads(text))

    # ------------------------------------------------------------------ lookup

    def canonical_method(self, name: str) -> str | None:
        return self._method_by_lower.get(name.lower())

    def fields(self, method: str) -> dict[str, dict[str, Any]]:
        return {f["name"]: f for f in self.methods[method].get("fields", [])}

    # ------------------------------------------------------------------ decoding

    def decode_params(
        self, method: str, raw: dict[str, Any], files: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        """Turn wire values (strings from a form, or JSON values) into typed values.

        Unknown parameter names are kept as they are so that validation can
        report them.  Raises :class:`DecodeError` with Telegram's wording.
        """
        fields = self.fields(method)
        decoded: dict[str, Any] = {}
        for name, value in raw.items():
            field = fields.get(name)
            if field is None:
                decoded[name] = value
                continue
            decoded[name] = self._decode_value(name, field["types"], value, files)
        # A file part named like an InputFile parameter *is* that parameter.
        for name, upload in files.items():
            field = fields.get(name)
            if field is not None and name not in decoded and "InputFile" in field["types"]:
                decoded[name] = upload
        return decoded

    def _decode_value(
        self, name: str, types: list[str], value: Any, files: dict[str, UploadedFile]
    ) -> Any:
        if not isinstance(value, str):
            # JSON body: Telegram converts numbers to strings for String parameters.
            if types == ["String"] and isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)
            return value
        if "InputFile" in types and value.startswith("attach://"):
            attached = files.get(value[len("attach://") :])
            if attached is None:
                raise DecodeError(f"Bad Request: file for parameter '{name}' not found in the request")
            return attached
        if "String" in types:
            if "Integer" in types:
                # "Integer or String" (chat_id): a numeric string is an id, else @username.
                try:
                    return int(value)
                except ValueError:
                    return value
            return value
        if types == ["Boolean"] or types == ["True"]:
            low = value.lower()
            if low in ("true", "1"):
                return True
            if low in ("false", "0", ""):
                return False
            raise DecodeError(f"Bad Request: parameter '{name}' must be a Boolean")
        if types == ["Integer"]:
            try:
                return int(value)
            except ValueError as exc:
                raise DecodeError(f"Bad Request: parameter '{name}' must be an Integer") from exc
        if types == ["Float"]:
            try:
                return float(value)
            except ValueError as exc:
                raise DecodeError(f"Bad Request: parameter '{name}' must be a Float") from exc
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            if name == "reply_markup":
                raise DecodeError("Bad Request: can't parse reply keyboard markup JSON object") from exc
            raise DecodeError(f"Bad Request: can't parse JSON object in parameter '{name}'") from exc

    # ------------------------------------------------------------------ validation

    def validate_call(self, method: str, params: dict[str, Any]) -> list[str]:
        """Problems with a call in Telegram's words; empty when the call is well formed."""
        canonical = self.canonical_method(method)
        if canonical is None:
            return ["Not Found"]
        fields = self.fields(canonical)
        problems: list[str] = []
        for name in params:
            if name not in fields:
                problems.append(f"Bad Request: unknown parameter '{name}'")
        for name, field in fields.items():
            if field["required"] and params.get(name) is None:
                problems.append(f"Bad Request: parameter '{name}' is required")
        for name, value in params.items():
            declared = fields.get(name)
            if declared is None or value is None:
                continue
            for problem in self.check_value(value, declared["types"], name):
                problems.append(f"Bad Request: {problem}")
        return problems

    def check_value(self, value: Any, types: list[str], path: str) -> list[str]:
        """Check ``value`` against a union of declared types; returns problems (no prefix)."""
        best: list[str] | None = None
        best_score = -1
        for type_name in types:
            problems = self._check_single(value, type_name, path)
            if not problems:
                return []
            score = self._affinity(value, type_name)
            if best is None or score > best_score or (score == best_score and len(problems) < len(best)):
                best, best_score = problems, score
        if best is None:
            return [f"{path}: no declared type"]
        if len(types) > 1 and best_score <= 0:
            return [f"{path} must be of type {_type_label(types)}"]
        return best

    def _affinity(self, value: Any, type_name: str) -> int:
        """How plausibly ``value`` was meant to be ``type_name`` (for error reporting)."""
        if not isinstance(value, dict):
            return 0
        if type_name in self.types:
            names = {f["name"] for f in self.types[type_name].get("fields", [])}
            for sub in self.types[type_name].get("subtypes", []):
                names |= {f["name"] for f in self.types[sub].get("fields", [])}
            return len(names & set(value))
        return 0

    def _check_single(self, value: Any, type_name: str, path: str) -> list[str]:
        if type_name.startswith("Array of "):
            inner = type_name[len("Array of ") :]
            if not isinstance(value, list):
                return [f"{path} must be an Array"]
            problems: list[str] = []
            for idx, item in enumerate(value):
                problems.extend(self._check_single(item, inner, f"{path}[{idx}]"))
            return problems
        if type_name == "Integer":
            ok = isinstance(value, int) and not isinstance(value, bool)
            return [] if ok else [f"{path} must be an Integer"]
        if type_name == "Float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            return [] if ok else [f"{path} must be a Float"]
        if type_name == "Boolean":
            return [] if isinstance(value, bool) else [f"{path} must be a Boolean"]
        if type_name == "True":
            return [] if value is True else [f"{path} must be True"]
        if type_name == "String":
            return [] if isinstance(value, str) else [f"{path} must be a String"]
        if type_name == "InputFile":
            # An upload, or (accepted by the union with String elsewhere) a file_id/URL.
            return [] if isinstance(value, (UploadedFile, str)) else [f"{path} must be an InputFile"]
        if type_name == "KeyboardButton" and isinstance(value, str):
            # Telegram accepts a bare string as a text-only reply keyboard button.
            return []
        spec_type = self.types.get(type_name)
        if spec_type is None:
            logger.debug("unknown type %s in spec; accepting %r", type_name, value)
            return []
        if "subtypes" in spec_type:
            return self._check_abstract(value, type_name, spec_type["subtypes"], path)
        if not isinstance(value, dict):
            return [f"{path} must be a JSON object of type {type_name}"]
        fields = {f["name"]: f for f in spec_type.get("fields", [])}
        if not fields:
            return []  # Placeholder types such as CallbackGame carry no information.
        problems = []
        for key in value:
            if key not in fields:
                problems.append(f"unknown field '{key}' in {type_name} at {path}")
        for key, field in fields.items():
            if field["required"] and value.get(key) is None:
                problems.append(f"field '{key}' of {type_name} is required at {path}")
        for key, item in value.items():
            field = fields.get(key)
            if field is None or item is None:
                continue
            problems.extend(self._check_discriminator(type_name, field, item, f"{path}.{key}"))
            problems.extend(self.check_value(item, field["types"], f"{path}.{key}"))
        return problems

    def _check_discriminator(self, type_name: str, field: dict[str, Any], item: Any, path: str) -> list[str]:
        # Subtypes of abstract types say e.g. 'Scope type, must be chat'.
        if field["name"] not in ("type", "source", "status") or "subtype_of" not in self.types[type_name]:
            return []
        m = _DISCRIMINATOR_RE.search(field["description"])
        if m and item != m.group(1):
            return [f"{path} must be \"{m.group(1)}\" for {type_name}"]
        return []

    def _discriminator(self, sub: str) -> tuple[str, str] | None:
        for field in self.types[sub].get("fields", []):
            if field["name"] in ("type", "source", "status"):
                m = _DISCRIMINATOR_RE.search(field["description"])
                if m:
                    return field["name"], m.group(1)
        return None

    def _check_abstract(self, value: Any, type_name: str, subtypes: list[str], path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path} must be a JSON object of type {type_name}"]
        for sub in subtypes:
            disc = self._discriminator(sub)
            if disc is not None and value.get(disc[0]) == disc[1]:
                # The discriminator selects this subtype: its problems are the relevant ones.
                return self._check_single(value, sub, path)
        for sub in subtypes:
            if self._discriminator(sub) is None and not self._check_single(value, sub, path):
                return []
        return [f"{path} is not a valid {type_name} (type not recognised)"]
