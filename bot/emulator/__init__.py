"""A local, spec-strict fake Telegram Bot API server for tests and the offline sandbox.

Usage::

    async with BotApiEmulator() as emu:
        app = ApplicationBuilder().token("123:ABCDEF").base_url(emu.base_url).build()
        chat = emu.user(42, "张三")
        update_id = chat.send_text("/start")
        ...
        assert emu.violations == []
"""

from .html import EntityParseError, parse_html, parse_markdown_v2, utf16_len
from .models import ApiCall, ApiError, Violation
from .server import BotApiEmulator
from .spec import ApiSpec, UploadedFile
from .world import UserChat

__all__ = [
    "ApiCall",
    "ApiError",
    "ApiSpec",
    "BotApiEmulator",
    "EntityParseError",
    "UploadedFile",
    "UserChat",
    "Violation",
    "parse_html",
    "parse_markdown_v2",
    "utf16_len",
]
