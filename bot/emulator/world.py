"""The emulated Telegram world: users, private chats, messages, updates, files.

Nothing here speaks HTTP.  :class:`UserChat` is the test/sandbox driver that
plays a human user: every action enqueues an ``Update`` exactly shaped like the
ones Telegram delivers.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import logging
import mimetypes
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .html import utf16_len
from .models import ApiCall, Violation

logger = logging.getLogger(__name__)

__all__ = ["CallbackQueryState", "ChatState", "StoredFile", "UserChat", "World"]

# How long Telegram lets a bot answer a callback query.
CALLBACK_QUERY_TTL = 15 * 60


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    content: bytes
    filename: str | None = None
    mime_type: str | None = None
    file_path: str = ""

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass
class ChatState:
    id: int
    type: str
    user: dict[str, Any]
    known: bool = False
    blocked: bool = False
    next_message_id: int = 1
    # message_id -> current Message object (after edits); deleted ones are removed.
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    menu_button: dict[str, Any] | None = None
    reply_keyboard: dict[str, Any] | None = None
    chat_instance: str = ""

    def chat_object(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("first_name", "last_name", "username"):
            if self.user.get(key):
                chat[key] = self.user[key]
        return chat


@dataclass
class CallbackQueryState:
    id: str
    chat_id: int
    user_id: int
    message_id: int
    created: float
    answered: bool = False


class World:
    """All mutable state of the emulated Bot API."""

    def __init__(self, *, bot_user: dict[str, Any], clock: Callable[[], float]) -> None:
        self.clock = clock
        self.bot_user = bot_user
        self.chats: dict[int, ChatState] = {}
        self.pending_updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(700_000_001)
        self._query_ids = itertools.count(1)
        self.callback_queries: dict[str, CallbackQueryState] = {}
        self.files: dict[str, StoredFile] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.default_menu_button: dict[str, Any] = {"type": "commands"}
        self.webhook_url: str = ""
        self.webhook_secret: str | None = None
        self.webhook_allowed_updates: list[str] | None = None
        self.webhook_max_connections: int = 40
        self.webhook_last_error: tuple[int, str] | None = None
        self.webhook_delivered: list[int] = []  # update ids the webhook answered 2xx for, in order
        self.allowed_updates: list[str] | None = None
        self.calls: list[ApiCall] = []
        self.violations: list[Violation] = []
        self.throttled: list[ApiCall] = []
        self.processed: set[int] = set()
        # Every update ever queued, by id, so one can be delivered again (`redeliver`).
        self.history: dict[int, dict[str, Any]] = {}
        # Called (from any thread) whenever an update is enqueued.
        self.on_update: Callable[[], None] = lambda: None

    # ------------------------------------------------------------------ ids

    @staticmethod
    def now() -> int:
        return int(time.time())

    def new_file(
        self, content: bytes, *, kind: str, filename: str | None = None, mime_type: str | None = None
    ) -> StoredFile:
        # Real file ids are opaque base64-ish strings with a type-dependent prefix.
        prefix = {"document": "BQACAgIAAxkBAAI", "photo": "AgACAgIAAxkBAAI", "voice": "AwACAgIAAxkBAAI",
                  "sticker": "CAACAgIAAxkBAAI"}.get(kind, "BQACAgIAAxkBAAI")
        file_id = prefix + secrets.token_urlsafe(24)
        unique = "AgAD" + hashlib.sha1(file_id.encode()).hexdigest()[:12]
        ext = ""
        if filename and "." in filename:
            ext = filename[filename.rfind("."):]
        elif kind == "photo":
            ext = ".jpg"
        elif kind == "voice":
            ext = ".oga"
        folder = {"photo": "photos", "voice": "voice", "sticker": "stickers"}.get(kind, "documents")
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=unique,
            content=content,
            filename=filename,
            mime_type=mime_type,
            file_path=f"{folder}/file_{len(self.files)}{ext}",
        )
        self.files[file_id] = stored
        return stored

    # ------------------------------------------------------------------ chats & messages

    def ensure_chat(self, user: dict[str, Any]) -> ChatState:
        chat = self.chats.get(user["id"])
        if chat is None:
            chat = ChatState(
                id=user["id"],
                type="private",
                user=user,
                chat_instance=str(int(hashlib.sha1(str(user["id"]).encode()).hexdigest()[:15], 16)),
            )
            self.chats[user["id"]] = chat
        return chat

    def new_message(self, chat: ChatState, sender: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        # In a private chat user and bot messages share one message_id sequence.
        message: dict[str, Any] = {
            "message_id": chat.next_message_id,
            "from": copy.deepcopy(sender),
            "chat": chat.chat_object(),
            "date": self.now(),
        }
        message.update(content)
        chat.next_message_id += 1
        chat.messages[message["message_id"]] = message
        return message

    def enqueue(self, kind: str, payload: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        update = {"update_id": update_id, kind: payload}
        self.pending_updates.append(update)
        self.history[update_id] = copy.deepcopy(update)
        self.on_update()
        return update_id

    def enqueue_raw(self, fields: dict[str, Any]) -> int:
        """Queues an update made of ``fields`` as given, unchecked, under the next update_id:
        what a newer Bot API (or a broken one) could send, for testing a bot's parsing."""
        update_id = next(self._update_ids)
        update = {"update_id": update_id, **{k: copy.deepcopy(v) for k, v in fields.items() if k != "update_id"}}
        self.pending_updates.append(update)
        self.history[update_id] = copy.deepcopy(update)
        self.on_update()
        return update_id

    def redeliver(self, *update_ids: int) -> None:
        """Queues updates again, as Telegram does with updates a crashed bot never confirmed
        (polling) or never answered (webhook): same update_id, same content. A polling bot
        gets them on its first getUpdates after a restart (an offset past them drops them)."""
        for update_id in sorted(update_ids):
            if all(u["update_id"] != update_id for u in self.pending_updates):
                self.pending_updates.append(copy.deepcopy(self.history[update_id]))
        self.pending_updates.sort(key=lambda u: u["update_id"])
        self.on_update()

    def update_kind(self, update: dict[str, Any]) -> str:
        return next((k for k in update if k != "update_id"), "")


def _text_content(text: str) -> dict[str, Any]:
    """A text message's content as Telegram sends it."""
    content: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        # Telegram marks a leading /command (optionally /command@bot) as bot_command.
        end = 1
        while end < len(text) and not text[end].isspace():
            end += 1
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(text[:end])}]
    return content


def _button_rows(message: dict[str, Any]) -> list[list[dict[str, Any]]]:
    markup = message.get("reply_markup") or {}
    rows = markup.get("inline_keyboard") or []
    return [list(row) for row in rows]


class UserChat:
    """Driver for a human user talking to the bot in a private chat (chat id = user id)."""

    def __init__(self, world: World, user: dict[str, Any]) -> None:
        self._world = world
        self.user = user
        self.id: int = user["id"]

    def __repr__(self) -> str:
        return f"UserChat(id={self.id}, first_name={self.user.get('first_name')!r})"

    @property
    def _chat(self) -> ChatState:
        return self._world.ensure_chat(self.user)

    # ------------------------------------------------------------------ user actions

    def _send(self, content: dict[str, Any]) -> int:
        chat = self._chat
        # A chat exists for the bot once the user wrote to it.
        chat.known = True
        message = self._world.new_message(chat, self.user, content)
        return self._world.enqueue("message", copy.deepcopy(message))

    def send_text(self, text: str) -> int:
        return self._send(_text_content(text))

    def send_photo(self, caption: str | None = None) -> int:
        stored = self._world.new_file(secrets.token_bytes(256), kind="photo", mime_type="image/jpeg")
        sizes = []
        for width, height, size in ((90, 67, 1200), (320, 240, 15000), (800, 600, 64000)):
            sizes.append({"file_id": f"{stored.file_id}_{width}", "file_unique_id": f"{stored.file_unique_id}{width}",
                          "width": width, "height": height, "file_size": size})
            self._world.files[f"{stored.file_id}_{width}"] = stored
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        return self._send(content)

    def send_voice(self, duration: int = 3) -> int:
        stored = self._world.new_file(b"OggS" + secrets.token_bytes(60), kind="voice", mime_type="audio/ogg")
        return self._send({"voice": {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                                     "duration": duration, "mime_type": "audio/ogg", "file_size": stored.size}})

    def send_location(self, latitude: float, longitude: float) -> int:
        return self._send({"location": {"latitude": latitude, "longitude": longitude}})

    def send_document(self, filename: str, content: bytes, mime_type: str | None = None) -> int:
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = self._world.new_file(content, kind="document", filename=filename, mime_type=mime)
        return self._send({"document": {"file_name": filename, "mime_type": mime, "file_id": stored.file_id,
                                        "file_unique_id": stored.file_unique_id, "file_size": stored.size}})

    def send_sticker(self, emoji: str = "👍") -> int:
        stored = self._world.new_file(b"RIFF" + secrets.token_bytes(60), kind="sticker", mime_type="image/webp")
        return self._send({"sticker": {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                                       "type": "regular", "width": 512, "height": 512, "is_animated": False,
                                       "is_video": False, "emoji": emoji, "file_size": stored.size}})

    def tap(self, label: str | None = None, *, data: str | None = None, message_id: int | None = None) -> int:
        """Press an inline button; returns the update_id of the ``callback_query`` update."""
        if label is None and data is None:
            raise ValueError("tap() needs a label or data=")
        candidates = [m for m in reversed(self.messages) if _button_rows(m)]
        if message_id is not None:
            candidates = [m for m in candidates if m["message_id"] == message_id]
        found: tuple[dict[str, Any], dict[str, Any]] | None = None
        matchers: list[Callable[[dict[str, Any]], bool]]
        if data is not None:
            matchers = [lambda b: b.get("callback_data") == data]
        else:
            assert label is not None
            matchers = [lambda b: b.get("text") == label, lambda b: label in str(b.get("text", ""))]
        for match in matchers:
            for message in candidates:
                for row in _button_rows(message):
                    for button in row:
                        if match(button):
                            found = (message, button)
                            break
                    if found:
                        break
                if found:
                    break
            if found:
                break
        if found is None:
            available = [[b.get("text", "") for b in row] for m in candidates for row in _button_rows(m)]
            wanted = f"label {label!r}" if data is None else f"data {data!r}"
            raise LookupError(f"no inline button with {wanted} in chat {self.id}; available buttons: {available}")
        message, button = found
        if "callback_data" not in button:
            raise LookupError(f"button {button.get('text')!r} has no callback_data (it is {sorted(button)})")
        return self._callback(message, button["callback_data"])

    def forge_callback(self, data: str, message_id: int | None = None) -> int:
        """A callback query with arbitrary data on one of the bot's messages, as a modified
        client could send: for testing that the bot checks what buttons claim."""
        candidates = [m for m in self.messages if message_id is None or m["message_id"] == message_id]
        if not candidates:
            raise LookupError(f"no bot message to attach a callback to in chat {self.id}")
        return self._callback(candidates[-1], data)

    def _callback(self, message: dict[str, Any], data: str) -> int:
        world = self._world
        query_id = str(4_100_000_000_000_000 + self.id % 1_000_000 * 1_000_000 + next(world._query_ids))
        world.callback_queries[query_id] = CallbackQueryState(
            id=query_id, chat_id=self.id, user_id=self.id, message_id=message["message_id"], created=world.clock()
        )
        payload = {
            "id": query_id,
            "from": copy.deepcopy(self.user),
            "message": copy.deepcopy(message),
            "chat_instance": self._chat.chat_instance,
            "data": data,
        }
        return world.enqueue("callback_query", payload)

    def edit_text(self, text: str, message_id: int | None = None) -> int:
        """Edit one of the user's own text messages (default: their last one), as a phone's
        "Edit" does; returns the update_id of the ``edited_message`` update Telegram sends.

        The edited message keeps its message_id and date, gains ``edit_date``, and its
        entities are those of the new text (a leading /command is marked again)."""
        chat = self._chat
        own = [m for m in chat.messages.values() if m.get("from", {}).get("id") == self.id and "text" in m]
        if message_id is not None:
            own = [m for m in own if m["message_id"] == message_id]
        if not own:
            wanted = "a text message" if message_id is None else f"text message {message_id}"
            raise LookupError(f"user {self.id} has no {wanted} to edit")
        message = own[-1]
        edited = {key: value for key, value in message.items() if key != "entities"}
        edited.update(_text_content(text))
        edited["edit_date"] = max(self._world.now(), message["date"])
        chat.messages[message["message_id"]] = edited
        return self._world.enqueue("edited_message", copy.deepcopy(edited))

    def block(self, *, announce: bool = False) -> int | None:
        """The user blocks the bot: sending to this chat fails with 403 from now on.

        Telegram also tells the bot, with a ``my_chat_member`` update (member → kicked);
        `announce` queues it and returns its update_id (None when nothing changed)."""
        return self._set_blocked(True, announce)

    def unblock(self, *, announce: bool = False) -> int | None:
        """The user unblocks the bot (kicked → member; see `block`)."""
        return self._set_blocked(False, announce)

    def _set_blocked(self, blocked: bool, announce: bool) -> int | None:
        chat = self._chat
        changed = chat.blocked != blocked
        chat.blocked = blocked
        if not announce or not changed:
            return None
        # In a private chat the bot is a plain member, or "kicked" (banned for ever: until_date 0).
        bot = copy.deepcopy(self._world.bot_user)
        member: dict[str, Any] = {"status": "member", "user": bot}
        kicked: dict[str, Any] = {"status": "kicked", "user": copy.deepcopy(bot), "until_date": 0}
        payload = {
            "chat": chat.chat_object(),
            "from": copy.deepcopy(self.user),
            "date": self._world.now(),
            "old_chat_member": member if blocked else kicked,
            "new_chat_member": kicked if blocked else member,
        }
        return self._world.enqueue("my_chat_member", payload)

    # ------------------------------------------------------------------ what the user sees

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The bot's messages in this chat, in order, current state after edits/deletes."""
        bot_id = self._world.bot_user["id"]
        chat = self._world.chats.get(self.id)
        if chat is None:
            return []
        return [m for m in chat.messages.values() if m.get("from", {}).get("id") == bot_id]

    @property
    def last_message(self) -> dict[str, Any] | None:
        msgs = self.messages
        return msgs[-1] if msgs else None

    @property
    def reply_keyboard(self) -> list[list[str]] | None:
        """Labels of the custom reply keyboard currently shown, if any."""
        chat = self._world.chats.get(self.id)
        if chat is None or chat.reply_keyboard is None:
            return None
        return [[b if isinstance(b, str) else b.get("text", "") for b in row]
                for row in chat.reply_keyboard.get("keyboard", [])]

    def buttons(self, message: dict[str, Any] | None = None) -> list[list[str]]:
        """Labels of ``message``'s inline keyboard, or of the newest message that has one."""
        if message is None:
            message = next((m for m in reversed(self.messages) if _button_rows(m)), None)
            if message is None:
                return []
        return [[b.get("text", "") for b in row] for row in _button_rows(message)]

    @property
    def calls(self) -> list[ApiCall]:
        return [c for c in self._world.calls if c.chat_id == self.id]

    @property
    def callback_answers(self) -> list[ApiCall]:
        mine = {q.id for q in self._world.callback_queries.values() if q.chat_id == self.id}
        return [c for c in self._world.calls
                if c.method == "answerCallbackQuery" and str(c.params.get("callback_query_id")) in mine]

    def plain(self, message: dict[str, Any] | None = None) -> str:
        """The text (or caption) of ``message`` (default: the last one) as the user sees it."""
        if message is None:
            message = self.last_message
        if message is None:
            return ""
        return str(message.get("text", message.get("caption", "")))
