"""Spec-driven validation of calls (api.json, Bot API 10.1)."""

from __future__ import annotations

from bot.emulator import ApiSpec
from bot.emulator.spec import UploadedFile


def spec() -> ApiSpec:
    return ApiSpec.load()


def test_spec_is_loaded_once_from_the_package() -> None:
    assert ApiSpec.load() is ApiSpec.load()
    assert "sendMessage" in spec().methods
    assert spec().canonical_method("SENDMESSAGE") == "sendMessage"


def test_valid_call_has_no_problems() -> None:
    assert spec().validate_call("sendMessage", {"chat_id": 1, "text": "hi", "disable_notification": True}) == []
    assert spec().validate_call("sendMessage", {"chat_id": "@channel", "text": "hi"}) == []


def test_unknown_and_missing_parameters() -> None:
    problems = spec().validate_call("sendMessage", {"text": "hi", "foo": 1})
    assert "Bad Request: unknown parameter 'foo'" in problems
    assert "Bad Request: parameter 'chat_id' is required" in problems


def test_wrong_types() -> None:
    problems = spec().validate_call("sendMessage", {"chat_id": 1.5, "text": 5, "disable_notification": "yes"})
    assert any("chat_id must be of type Integer or String" in p for p in problems)
    assert any("text must be a String" in p for p in problems)
    assert any("disable_notification must be a Boolean" in p for p in problems)
    assert spec().validate_call("sendLocation", {"chat_id": 1, "latitude": 1, "longitude": 2.5}) == []


def test_nested_inline_keyboard_validation() -> None:
    good = {"inline_keyboard": [[{"text": "a", "callback_data": "x"}, {"text": "b", "url": "https://t.me"}]]}
    assert spec().validate_call("sendMessage", {"chat_id": 1, "text": "t", "reply_markup": good}) == []
    bad = {"inline_keyboard": [[{"text": "a", "callback_data": 5, "colour": "red"}], [{"callback_data": "y"}]]}
    problems = spec().validate_call("sendMessage", {"chat_id": 1, "text": "t", "reply_markup": bad})
    assert any("unknown field 'colour' in InlineKeyboardButton at reply_markup.inline_keyboard[0][0]" in p
               for p in problems)
    assert any("callback_data must be a String" in p for p in problems)
    assert any("field 'text' of InlineKeyboardButton is required" in p for p in problems)
    not_rows = {"inline_keyboard": [{"text": "a"}]}
    assert spec().validate_call("sendMessage", {"chat_id": 1, "text": "t", "reply_markup": not_rows})


def test_union_reply_markup_and_abstract_scope() -> None:
    reply_kb = {"keyboard": [[{"text": "a"}, "b"]], "resize_keyboard": True}
    assert spec().validate_call("sendMessage", {"chat_id": 1, "text": "t", "reply_markup": reply_kb}) == []
    assert spec().validate_call("sendMessage", {"chat_id": 1, "text": "t",
                                                "reply_markup": {"remove_keyboard": True}}) == []
    cmds = [{"command": "start", "description": "开始"}]
    assert spec().validate_call("setMyCommands", {"commands": cmds, "scope": {"type": "chat", "chat_id": 5}}) == []
    assert spec().validate_call("setMyCommands", {"commands": cmds, "scope": {"type": "chat"}})
    assert spec().validate_call("setMyCommands", {"commands": cmds, "scope": {"type": "galaxy"}})


def test_input_file_accepts_upload_or_string() -> None:
    upload = UploadedFile("document", "a.xlsx", b"PK")
    assert spec().validate_call("sendDocument", {"chat_id": 1, "document": upload}) == []
    assert spec().validate_call("sendDocument", {"chat_id": 1, "document": "BQACAgIAAxkB"}) == []
    assert spec().validate_call("sendDocument", {"chat_id": 1, "document": 12})


def test_decode_form_values_per_declared_type() -> None:
    raw = {"chat_id": "42", "text": "42", "disable_notification": "true",
           "reply_markup": '{"inline_keyboard":[[{"text":"a","callback_data":"b"}]]}'}
    decoded = spec().decode_params("sendMessage", raw, {})
    assert decoded["chat_id"] == 42
    assert decoded["text"] == "42"  # a String parameter keeps the raw text
    assert decoded["disable_notification"] is True
    assert decoded["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "b"
    assert spec().decode_params("sendMessage", {"chat_id": "@chan"}, {})["chat_id"] == "@chan"
    files = {"thumb1": UploadedFile("thumb1", "t.jpg", b"x")}
    decoded = spec().decode_params("sendDocument", {"thumbnail": "attach://thumb1"}, files)
    assert decoded["thumbnail"] is files["thumb1"]
