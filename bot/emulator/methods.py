"""Emulated Bot API methods: Telegram's business rules applied to the :class:`World`.

Every handler receives parameters that were already decoded and validated
against the spec (types, unknown/missing parameters) and enforces the rules the
spec only describes in prose: text limits, keyboard rules, "message is not
modified", callback query lifetime, command syntax, ...
"""

from __future__ import annotations

import copy
import json
import logging
import mimetypes
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from .html import EntityParseError, parse_html, parse_markdown_v2, strip_message_text, utf16_len
from .models import ApiError
from .spec import ApiSpec, UploadedFile
from .world import CALLBACK_QUERY_TTL, ChatState, StoredFile, World

logger = logging.getLogger(__name__)

__all__ = ["SEND_METHODS", "MethodHandlers"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_BUTTONS = 100
MAX_CALLBACK_ANSWER = 200
MAX_COMMANDS = 100
MAX_DOWNLOAD = 20 * 1024 * 1024

# Methods that count against Telegram's broadcast limits.
SEND_METHODS = frozenset({
    "sendMessage", "sendDocument", "sendPhoto", "sendLocation", "sendAudio", "sendVideo", "sendVoice",
    "sendAnimation", "sendSticker", "sendMediaGroup", "sendContact", "sendVenue", "sendPoll", "sendDice",
    "copyMessage", "forwardMessage", "sendVideoNote",
})

_CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
})
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_CHAT_NOT_FOUND = "Bad Request: chat not found"


def _bad(description: str) -> ApiError:
    return ApiError(400, description)


class MethodHandlers:
    """Synchronous handlers, one per emulated method (``getUpdates`` lives in the server)."""

    def __init__(self, world: World, spec: ApiSpec) -> None:
        self.world = world
        self.spec = spec
        button_fields = [f["name"] for f in spec.types["InlineKeyboardButton"]["fields"]]
        # "Exactly one of the fields other than text, icon_custom_emoji_id, and style".
        self._button_actions = [n for n in button_fields if n not in ("text", "icon_custom_emoji_id", "style")]
        self.handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": self.get_me,
            "logOut": lambda p: True,
            "close": lambda p: True,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "editMessageCaption": self.edit_message_caption,
            "deleteMessage": self.delete_message,
            "answerCallbackQuery": self.answer_callback_query,
            "sendChatAction": self.send_chat_action,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "setChatMenuButton": self.set_chat_menu_button,
            "getChatMenuButton": self.get_chat_menu_button,
            "sendDocument": self.send_document,
            "sendPhoto": self.send_photo,
            "sendLocation": self.send_location,
            "getFile": self.get_file,
            "getChat": self.get_chat,
        }

    # ------------------------------------------------------------------ shared rules

    def chat_id_of(self, params: dict[str, Any]) -> int | str | None:
        value = params.get("chat_id")
        if isinstance(value, (int, str)) and not isinstance(value, bool):
            return value
        query = self.world.callback_queries.get(str(params.get("callback_query_id", "")))
        return query.chat_id if query else None

    def resolve_chat(self, chat_id: Any) -> ChatState:
        chat: ChatState | None = None
        if isinstance(chat_id, int):
            chat = self.world.chats.get(chat_id)
        elif isinstance(chat_id, str) and chat_id.startswith("@"):
            chat = next((c for c in self.world.chats.values()
                         if c.user.get("username", "").lower() == chat_id[1:].lower()), None)
        # A private chat only exists for the bot after the user has written to it.
        if chat is None or not chat.known:
            raise _bad(_CHAT_NOT_FOUND)
        return chat

    @staticmethod
    def _check_not_blocked(chat: ChatState) -> None:
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user", violation=False)

    def format_text(
        self, text: str, parse_mode: Any, entities: Any, *, limit: int, caption: bool
    ) -> tuple[str, list[dict[str, Any]]]:
        """Apply parse_mode / entities, then Telegram's trimming and length limits."""
        plain = text
        ents: list[dict[str, Any]] = []
        if entities:
            ents = [dict(e) for e in entities]
            total = utf16_len(text)
            for e in ents:
                if e["offset"] < 0 or e["length"] <= 0 or e["offset"] + e["length"] > total:
                    raise _bad("Bad Request: can't parse entities: entity beyond the end of text")
        elif parse_mode:
            mode = str(parse_mode).lower()
            try:
                if mode == "html":
                    plain, ents = parse_html(text)
                elif mode == "markdownv2":
                    plain, ents = parse_markdown_v2(text)
                elif mode == "markdown":
                    # Legacy Markdown is deprecated; keep the text unparsed rather than guess.
                    plain, ents = text, []
                else:
                    raise _bad(f"Bad Request: unsupported parse_mode \"{parse_mode}\"")
            except EntityParseError as exc:
                raise _bad(exc.description) from exc
        plain, ents = strip_message_text(plain, ents)
        if not caption and not plain:
            raise _bad("Bad Request: message text is empty")
        if utf16_len(plain) > limit:
            raise _bad("Bad Request: message caption is too long" if caption else "Bad Request: message is too long")
        return plain, ents

    def check_inline_keyboard(self, markup: dict[str, Any]) -> dict[str, Any]:
        rows = markup.get("inline_keyboard", [])
        if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
            raise _bad("Bad Request: reply markup is too long")
        for row in rows:
            for button in row:
                if not str(button.get("text", "")).strip():
                    raise _bad("Bad Request: BUTTON_TEXT_INVALID: button text must be non-empty")
                actions = [a for a in self._button_actions if button.get(a) is not None]
                if not actions:
                    raise _bad("Bad Request: text buttons are unallowed in the inline keyboard")
                if len(actions) > 1:
                    raise _bad(
                        "Bad Request: can't parse inline keyboard button: exactly one of "
                        f"{', '.join(self._button_actions)} must be specified, got {', '.join(actions)}"
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                    raise _bad("Bad Request: BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None:
                    parsed = urlparse(str(url))
                    if parsed.scheme not in ("http", "https", "tg") or not (parsed.netloc or parsed.scheme == "tg"):
                        raise _bad("Bad Request: BUTTON_URL_INVALID")
        return copy.deepcopy(markup)

    def apply_reply_markup(self, chat: ChatState, markup: Any, message: dict[str, Any]) -> None:
        if not isinstance(markup, dict):
            return
        if "inline_keyboard" in markup:
            message["reply_markup"] = self.check_inline_keyboard(markup)
        elif "keyboard" in markup:
            rows = markup.get("keyboard", [])
            if not rows or any(not row for row in rows):
                raise _bad("Bad Request: keyboard must be non-empty")
            chat.reply_keyboard = copy.deepcopy(markup)
        elif markup.get("remove_keyboard"):
            chat.reply_keyboard = None

    def _reply_to(self, chat: ChatState, params: dict[str, Any]) -> dict[str, Any]:
        reply = params.get("reply_parameters")
        if not isinstance(reply, dict):
            return {}
        target = chat.messages.get(reply.get("message_id", -1))
        if target is None:
            if reply.get("allow_sending_without_reply"):
                return {}
            raise _bad("Bad Request: message to be replied not found")
        return {"reply_to_message": copy.deepcopy(target)}

    def _send(self, params: dict[str, Any], content: dict[str, Any], *, markup_first: bool = True) -> dict[str, Any]:
        chat = self.resolve_chat(params.get("chat_id"))
        self._check_not_blocked(chat)
        extra = self._reply_to(chat, params)
        probe: dict[str, Any] = {}
        # Validate the keyboard before creating the message so a refusal leaves no trace.
        self.apply_reply_markup(chat, params.get("reply_markup"), probe)
        content = {**extra, **content, **probe}
        if params.get("protect_content"):
            content["has_protected_content"] = True
        message = self.world.new_message(chat, self.world.bot_user, content)
        return copy.deepcopy(message)

    # ------------------------------------------------------------------ bot & webhook

    def get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**self.world.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    def set_webhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url", ""))
        if not url:
            return self.delete_webhook(params)
        parsed = urlparse(url)
        # Real Telegram insists on HTTPS; the emulator also allows plain HTTP so it can
        # deliver to a local test server.
        if parsed.scheme not in ("https", "http") or not parsed.hostname:
            raise _bad("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad("Bad Request: secret token contains unallowed characters")
        max_conn = params.get("max_connections", 40)
        if not 1 <= int(max_conn) <= 100:
            raise _bad("Bad Request: bad webhook: max_connections must be between 1 and 100")
        if params.get("drop_pending_updates"):
            self.world.pending_updates.clear()
        self.world.webhook_url = url
        self.world.webhook_secret = str(secret) if secret is not None else None
        self.world.webhook_max_connections = int(max_conn)
        if "allowed_updates" in params:
            self.world.webhook_allowed_updates = list(params["allowed_updates"]) or None
        self.world.on_update()
        return True

    def delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self.world.pending_updates.clear()
        self.world.webhook_url = ""
        self.world.webhook_secret = None
        self.world.on_update()
        return True

    def get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        info: dict[str, Any] = {"url": world.webhook_url, "has_custom_certificate": False,
                                "pending_update_count": len(world.pending_updates)}
        if world.webhook_url:
            info["max_connections"] = world.webhook_max_connections
            if world.webhook_allowed_updates:
                info["allowed_updates"] = list(world.webhook_allowed_updates)
            if world.webhook_last_error:
                info["last_error_date"], info["last_error_message"] = world.webhook_last_error
        return info

    # ------------------------------------------------------------------ messages

    def send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        self.resolve_chat(params.get("chat_id"))
        text, entities = self.format_text(str(params["text"]), params.get("parse_mode"), params.get("entities"),
                                          limit=MAX_TEXT, caption=False)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._send(params, content)

    def _message_to_edit(self, params: dict[str, Any]) -> tuple[ChatState, dict[str, Any]]:
        if params.get("inline_message_id") is not None:
            # Inline mode is not emulated; no inline message id was ever issued.
            raise _bad("Bad Request: MESSAGE_ID_INVALID")
        if params.get("chat_id") is None or params.get("message_id") is None:
            raise _bad("Bad Request: message identifier is not specified")
        chat = self.resolve_chat(params["chat_id"])
        message = chat.messages.get(params["message_id"])
        if message is None:
            raise _bad("Bad Request: message to edit not found")
        if message.get("from", {}).get("id") != self.world.bot_user["id"]:
            raise _bad("Bad Request: message can't be edited")
        return chat, message

    def _commit_edit(self, chat: ChatState, message: dict[str, Any], changes: dict[str, Any],
                     markup: Any) -> dict[str, Any]:
        new_markup = self.check_inline_keyboard(markup) if isinstance(markup, dict) else None
        if new_markup is not None and not new_markup.get("inline_keyboard"):
            new_markup = None  # An empty inline keyboard removes the keyboard.
        if all(message.get(k) == v for k, v in changes.items()) and message.get("reply_markup") == new_markup:
            raise _bad(_NOT_MODIFIED)
        message.update({k: v for k, v in changes.items() if v is not None})
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
        if new_markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = new_markup
        message["edit_date"] = self.world.now()
        return copy.deepcopy(message)

    def edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._message_to_edit(params)
        if "text" not in message:
            raise _bad("Bad Request: there is no text in the message to edit")
        if params.get("text") is None:
            raise _bad("Bad Request: message text is empty")
        text, entities = self.format_text(str(params["text"]), params.get("parse_mode"), params.get("entities"),
                                          limit=MAX_TEXT, caption=False)
        # Omitting reply_markup in editMessageText removes the inline keyboard, as in Telegram.
        return self._commit_edit(chat, message, {"text": text, "entities": entities or None},
                                 params.get("reply_markup"))

    def edit_message_caption(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._message_to_edit(params)
        if not any(k in message for k in ("document", "photo", "video", "audio", "animation", "voice")):
            raise _bad("Bad Request: there is no caption in the message to edit")
        caption, entities = self.format_text(str(params.get("caption") or ""), params.get("parse_mode"),
                                             params.get("caption_entities"), limit=MAX_CAPTION, caption=True)
        return self._commit_edit(chat, message, {"caption": caption or None, "caption_entities": entities or None},
                                 params.get("reply_markup"))

    def edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._message_to_edit(params)
        return self._commit_edit(chat, message, {}, params.get("reply_markup"))

    def delete_message(self, params: dict[str, Any]) -> bool:
        chat = self.resolve_chat(params["chat_id"])
        if chat.messages.pop(params["message_id"], None) is None:
            raise _bad("Bad Request: message to delete not found")
        return True

    def answer_callback_query(self, params: dict[str, Any]) -> bool:
        query = self.world.callback_queries.get(str(params["callback_query_id"]))
        too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
        if query is None or query.answered or self.world.clock() - query.created > CALLBACK_QUERY_TTL:
            raise _bad(too_old)
        text = params.get("text")
        if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER:
            raise _bad("Bad Request: MESSAGE_TOO_LONG: callback answer text must be at most 200 characters")
        query.answered = True
        return True

    def send_chat_action(self, params: dict[str, Any]) -> bool:
        chat = self.resolve_chat(params["chat_id"])
        if params["action"] not in _CHAT_ACTIONS:
            raise _bad("Bad Request: wrong parameter action in request")
        self._check_not_blocked(chat)
        return True

    # ------------------------------------------------------------------ commands & menu

    def _scope_key(self, params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        language = str(params.get("language_code") or "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise _bad("Bad Request: invalid language code specified")
        if "chat_id" in scope:
            chat = self.resolve_chat(scope["chat_id"])
            scope = {**scope, "chat_id": chat.id}
        return json.dumps(scope, sort_keys=True) + "|" + language

    def set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params["commands"]
        if len(commands) > MAX_COMMANDS:
            raise _bad("Bad Request: too many commands specified")
        for command in commands:
            if not _COMMAND_RE.fullmatch(str(command["command"])):
                raise _bad("Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command["description"]).strip()) <= 256:
                raise _bad("Bad Request: command description must be 1-256 characters")
        key = self._scope_key(params)
        scope_type, _, language = key.partition("|")
        self.world.commands[(scope_type, language)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        scope_type, _, language = self._scope_key(params).partition("|")
        return copy.deepcopy(self.world.commands.get((scope_type, language), []))

    def delete_my_commands(self, params: dict[str, Any]) -> bool:
        scope_type, _, language = self._scope_key(params).partition("|")
        self.world.commands.pop((scope_type, language), None)
        return True

    def set_chat_menu_button(self, params: dict[str, Any]) -> bool:
        button = params.get("menu_button") or {"type": "default"}
        if params.get("chat_id") is None:
            self.world.default_menu_button = (
                {"type": "commands"} if button["type"] == "default" else copy.deepcopy(button)
            )
        else:
            chat = self.resolve_chat(params["chat_id"])
            chat.menu_button = None if button["type"] == "default" else copy.deepcopy(button)
        return True

    def get_chat_menu_button(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("chat_id") is not None:
            chat = self.resolve_chat(params["chat_id"])
            if chat.menu_button is not None:
                return copy.deepcopy(chat.menu_button)
        return copy.deepcopy(self.world.default_menu_button)

    # ------------------------------------------------------------------ files & media

    def _input_file(self, value: Any, *, kind: str) -> StoredFile:
        if isinstance(value, UploadedFile):
            if not value.content:
                raise _bad("Bad Request: file must be non-empty")
            return self.world.new_file(value.content, kind=kind, filename=value.filename,
                                       mime_type=value.content_type)
        text = str(value)
        known = self.world.files.get(text)
        if known is not None:
            return known
        if text.startswith(("http://", "https://")):
            name = urlparse(text).path.rsplit("/", 1)[-1] or "file"
            return self.world.new_file(b"", kind=kind, filename=name)
        raise _bad("Bad Request: wrong file identifier/HTTP URL specified")

    def _caption(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("caption") is None:
            return {}
        caption, entities = self.format_text(str(params["caption"]), params.get("parse_mode"),
                                             params.get("caption_entities"), limit=MAX_CAPTION, caption=True)
        content: dict[str, Any] = {}
        if caption:
            content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
        return content

    def send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self.resolve_chat(params.get("chat_id"))
        self._check_not_blocked(chat)
        content = self._caption(params)
        stored = self._input_file(params["document"], kind="document")
        document: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                                    "file_size": stored.size}
        if stored.filename:
            document["file_name"] = stored.filename
        mime = stored.mime_type
        if not mime or mime == "application/octet-stream":
            mime = mimetypes.guess_type(stored.filename or "")[0] or mime
        if mime:
            document["mime_type"] = mime
        return self._send(params, {"document": document, **content})

    def send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self.resolve_chat(params.get("chat_id"))
        self._check_not_blocked(chat)
        content = self._caption(params)
        stored = self._input_file(params["photo"], kind="photo")
        sizes = []
        for width, height in ((90, 68), (320, 240), (800, 600)):
            file_id = f"{stored.file_id}_{width}"
            self.world.files[file_id] = stored
            sizes.append({"file_id": file_id, "file_unique_id": f"{stored.file_unique_id}{width}",
                          "width": width, "height": height, "file_size": stored.size})
        return self._send(params, {"photo": sizes, **content})

    def send_location(self, params: dict[str, Any]) -> dict[str, Any]:
        lat, lon = float(params["latitude"]), float(params["longitude"])
        if not -90 <= lat <= 90 or not -180 <= lon <= 180:
            raise _bad("Bad Request: wrong latitude or longitude specified")
        location: dict[str, Any] = {"latitude": lat, "longitude": lon}
        if params.get("horizontal_accuracy") is not None:
            location["horizontal_accuracy"] = params["horizontal_accuracy"]
        return self._send(params, {"location": location})

    def get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self.world.files.get(str(params["file_id"]))
        if stored is None:
            raise _bad("Bad Request: invalid file_id")
        if stored.size > MAX_DOWNLOAD:
            raise _bad("Bad Request: file is too big")
        return {"file_id": str(params["file_id"]), "file_unique_id": stored.file_unique_id,
                "file_size": stored.size, "file_path": stored.file_path}

    def get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self.resolve_chat(params["chat_id"])
        info = chat.chat_object()
        info.update({"accent_color_id": chat.id % 7, "max_reaction_count": 11,
                     "accepted_gift_types": {"unlimited_gifts": True, "limited_gifts": True,
                                             "unique_gifts": True, "premium_subscription": True,
                                             "gifts_from_channels": True}})
        return info
