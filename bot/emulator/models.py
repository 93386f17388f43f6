"""Records kept by the emulator: API calls, contract violations and API errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["ApiCall", "ApiError", "Violation"]


class ApiError(Exception):
    """A refusal exactly as Telegram would send it (``ok: false``)."""

    def __init__(
        self,
        error_code: int,
        description: str,
        *,
        parameters: dict[str, Any] | None = None,
        violation: bool = True,
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters
        # False for refusals that are part of normal life (user blocked the bot,
        # flood control, injected faults) and therefore not a bug of the bot.
        self.violation = violation

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class ApiCall:
    """One HTTP request the bot made to the emulated Bot API."""

    index: int
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    ok: bool = False
    response: dict[str, Any] = field(default_factory=dict)
    chat_id: int | str | None = None
    time: float = 0.0
    status: int = 200

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def description(self) -> str | None:
        value = self.response.get("description")
        return value if isinstance(value, str) else None


@dataclass
class Violation:
    """A call real Telegram would refuse because the bot broke an API rule."""

    method: str
    error_code: int
    description: str
    params: dict[str, Any]
    call_index: int

    def __str__(self) -> str:
        return f"{self.method}: {self.error_code} {self.description} (params={self.params!r})"
