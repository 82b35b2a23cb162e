"""The channel adapters against loopback stand-ins of each platform (tests/hub/notify/platforms.py).

HTTP 200 with an error code is a failed delivery carrying that code; "too fast" throttles for the platform's
cool-down; a group channel never carries a resident's care data, name or phone; a digest lists every alarm.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote_plus

import pytest
from pydantic import ValidationError

import hub.notify.channels.builtin  # noqa: F401  (registers every built-in type)
from hub.notify.channels import CHANNEL_TYPES, ChannelContext, Message, Recipient
from hub.notify.channels.dingtalk import DingTalkChannel, DingTalkConfig, dingtalk_sign
from hub.notify.channels.feishu import FeishuChannel, FeishuConfig, feishu_sign
from hub.notify.channels.ntfy import NtfyChannel, NtfyConfig, header_value
from hub.notify.channels.sms import HttpSmsProvider, SmsChannel, SmsConfig
from hub.notify.channels.webhook import PersonalWebhookConfig, WebhookChannel, WebhookConfig, signature
from hub.notify.channels.wecom import WeComChannel, WeComConfig
from hub.notify.render import utf8_len
from tests.hub.notify.cardsamples import CARE, LINKS, RESIDENT, RESIDENT_PHONE, make_card, make_cards
from tests.hub.notify.platforms import (
    DingTalkRobot,
    FeishuBot,
    NtfyServer,
    PlatformServer,
    SilentServer,
    SmsGateway,
    WebhookReceiver,
    WeComRobot,
)
from tests.support import free_port

CONSOLE = "https://hub.example/"
OPEN: list[Any] = []


C = TypeVar("C")


def track(channel: C) -> C:
    """Close ``channel``'s connections when the test ends."""
    OPEN.append(channel)
    return channel


@pytest.fixture(autouse=True)
def _close_channels() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()  # every channel here has close()


class FixedClock:
    """A platform's rate-window clock that a test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _serve(server: PlatformServer) -> Iterator[Any]:
    server.clock = FixedClock()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def wecom() -> Iterator[WeComRobot]:
    yield from _serve(WeComRobot())


@pytest.fixture
def dingtalk() -> Iterator[DingTalkRobot]:
    yield from _serve(DingTalkRobot())


@pytest.fixture
def feishu() -> Iterator[FeishuBot]:
    yield from _serve(FeishuBot())


@pytest.fixture
def ntfy() -> Iterator[NtfyServer]:
    yield from _serve(NtfyServer())


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    yield from _serve(WebhookReceiver())


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    yield from _serve(SmsGateway())


@pytest.fixture
def context(tmp_path: Path) -> ChannelContext:
    return ChannelContext(data_dir=tmp_path, public_url=CONSOLE)


def group_message(*cards: Any, job: str = "job-1") -> Message:
    return Message(job_id=job, cards=tuple(cards) or (make_card(),))


def personal_message(address: str, *cards: Any, links: Any = LINKS) -> Message:
    cards = tuple(cards) or (make_card(),)
    return Message(
        job_id="job-p1",
        cards=cards,
        recipient=Recipient(person="li-qiang", name="李强", address=address),
        links=links if len(cards) == 1 else None,
    )


def no_personal_data(raw: bytes | str) -> None:
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    text = json.loads(text) if text.startswith("{") else text
    flat = json.dumps(text, ensure_ascii=False)
    assert RESIDENT not in flat and RESIDENT_PHONE not in flat
    assert "138 1234 5678" not in flat and "张丽" not in flat
    for line in CARE:
        assert line not in flat


# --- registry and configs -------------------------------------------------------------------------------------


def test_every_built_in_type_registers_with_its_platform_limit() -> None:
    expected = {
        "wecom": (True, 20, None),
        "dingtalk": (True, 20, None),
        "feishu": (True, 100, 5),
        "ntfy": (False, 60, None),
        "webhook": (True, None, None),
        "sms": (False, None, None),
    }
    for name, (group, per_minute, per_second) in expected.items():
        kind = CHANNEL_TYPES[name]
        assert kind.config.group is group, name
        rate = kind.config.default_rate
        assert (rate.per_minute if rate else None) == per_minute, name
        assert (rate.per_second if rate else None) == per_second, name
    rate = DingTalkConfig.default_rate
    assert rate is not None and rate.cooldown_s == 600


def test_configs_are_strict() -> None:
    with pytest.raises(ValidationError):
        WeComConfig.model_validate({"id": "w", "type": "wecom"})  # no address
    with pytest.raises(ValidationError):
        WeComConfig.model_validate({"id": "w", "type": "wecom", "key": "k", "url": "https://x/?key=k"})
    with pytest.raises(ValidationError):
        WeComConfig.model_validate({"id": "w", "type": "dingtalk", "key": "k"})
    with pytest.raises(ValidationError):
        DingTalkConfig.model_validate({"id": "d", "type": "dingtalk", "access_token": "t", "colour": "red"})
    with pytest.raises(ValidationError):
        SmsConfig.model_validate({"id": "s", "type": "sms", "url": "https://x"})  # no api key


def test_secrets_from_files_relative_to_the_data_dir(wecom: WeComRobot, context: ChannelContext) -> None:
    (context.data_dir / "secrets").mkdir()
    (context.data_dir / "secrets" / "wecom.key").write_text(wecom.key + "\n")
    config = WeComConfig(
        id="w", type="wecom", key_file="secrets/wecom.key", base_url=f"{wecom.base_url}/cgi-bin/webhook/send"
    )
    assert track(WeComChannel(config, context)).send(group_message()).ok
    missing = WeComConfig(id="w", type="wecom", key_file="secrets/nope.key")
    with pytest.raises(ValueError, match=r"nope\.key"):
        WeComChannel(missing, context)


def test_webhook_personal_entries_validate_as_a_personal_config() -> None:
    group = WebhookConfig.model_validate({"id": "h", "type": "webhook", "url": "https://x"})
    personal = WebhookConfig.model_validate({"id": "h", "type": "webhook", "url": "https://x", "personal": True})
    assert group.group is True and type(group) is WebhookConfig
    assert isinstance(personal, PersonalWebhookConfig) and personal.group is False and type(personal).group is False


# --- WeCom ------------------------------------------------------------------------------------------------------


def wecom_channel(server: WeComRobot, context: ChannelContext, **fields: Any) -> WeComChannel:
    fields.setdefault("url", server.url)
    return track(WeComChannel(WeComConfig(id="wecom", type="wecom", **fields), context))


def test_wecom_markdown_delivered(wecom: WeComRobot, context: ChannelContext) -> None:
    result = wecom_channel(wecom, context).send(group_message())
    assert result.ok and result.code == "0"
    body = wecom.accepted()[0].json
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert "【火警】2号楼 1单元 1502 烟雾报警 1" in content and "(https://hub.example/alarms/1)" in content
    assert "处置预案" in content and utf8_len(content) <= 4096


def test_wecom_group_message_never_has_care_data(wecom: WeComRobot, context: ChannelContext) -> None:
    card = make_card(measured=f"住户 {RESIDENT_PHONE} 报告冒烟")
    message = Message(job_id="j", cards=(card,), links=LINKS)  # links wrongly given: still not sent
    assert wecom_channel(wecom, context).send(message).ok
    raw = wecom.accepted()[0].body
    no_personal_data(raw)
    assert LINKS.acknowledge not in raw.decode()


def test_wecom_text_type_within_2048_bytes(wecom: WeComRobot, context: ChannelContext) -> None:
    card = make_card(plan=tuple(f"步骤 {i}：检查并报告" for i in range(300)))
    assert wecom_channel(wecom, context, msgtype="text").send(group_message(card)).ok
    body = wecom.accepted()[0].json
    assert body["msgtype"] == "text" and utf8_len(body["text"]["content"]) <= 2048


def test_wecom_rate_limit_is_45009_throttled(wecom: WeComRobot, context: ChannelContext) -> None:
    channel = wecom_channel(wecom, context)
    results = [channel.send(group_message(job=f"j{i}")) for i in range(21)]
    assert all(r.ok for r in results[:20])
    last = results[20]
    assert not last.ok and last.code == "45009" and last.retryable and last.throttled_for_s == 60
    wecom.clock.now += 61  # type: ignore[attr-defined]
    assert channel.send(group_message()).ok


def test_wecom_invalid_webhook_is_93000_not_retryable(wecom: WeComRobot, context: ChannelContext) -> None:
    result = wecom_channel(wecom, context, url=f"{wecom.base_url}/cgi-bin/webhook/send?key=wrong").send(group_message())
    assert not result.ok and result.code == "93000" and not result.retryable and result.throttled_for_s is None
    assert "wrong" not in result.detail


def test_wecom_digest_lists_every_alarm(wecom: WeComRobot, context: ChannelContext) -> None:
    cards = make_cards(15)
    assert wecom_channel(wecom, context).send(group_message(*cards)).ok
    content = wecom.accepted()[0].json["markdown"]["content"]
    assert "15 条报警" in content
    assert all(f"({card.alarm_url})" in content for card in cards)
    no_personal_data(content)


def test_wecom_big_digest_says_how_many_more(wecom: WeComRobot, context: ChannelContext) -> None:
    cards = make_cards(150)
    assert wecom_channel(wecom, context).send(group_message(*cards)).ok
    content = wecom.accepted()[0].json["markdown"]["content"]
    shown = sum(f"({card.alarm_url})" in content for card in cards)
    assert f"…以及另外 {150 - shown} 条报警，见 {CONSOLE}" in content


# --- DingTalk ---------------------------------------------------------------------------------------------------


def dingtalk_channel(server: DingTalkRobot, context: ChannelContext, **fields: Any) -> DingTalkChannel:
    fields.setdefault("url", server.url)
    if "secret" not in fields and server.secret is not None:
        fields["secret"] = server.secret
    clock = fields.pop("clock", time.time)
    return track(DingTalkChannel(DingTalkConfig(id="ding", type="dingtalk", **fields), context, clock=clock))


def test_dingtalk_sign_matches_the_documented_recipe() -> None:
    secret, ts = "SECtest", 1700000000000
    digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    assert dingtalk_sign(secret, ts) == quote_plus(base64.b64encode(digest))


def test_dingtalk_signed_action_card_delivered(dingtalk: DingTalkRobot, context: ChannelContext) -> None:
    result = dingtalk_channel(dingtalk, context).send(group_message())
    assert result.ok, result
    request = dingtalk.accepted()[0]
    assert set(request.query) == {"access_token", "timestamp", "sign"}
    card = request.json["actionCard"]
    assert request.json["msgtype"] == "actionCard"
    assert card["title"].startswith("【火警】")
    assert [b["title"] for b in card["btns"]] == ["查看", "确认"]
    assert all(b["actionURL"] == "https://hub.example/alarms/1" for b in card["btns"])
    no_personal_data(request.body)


def test_dingtalk_wrong_secret_is_310000_not_retryable(dingtalk: DingTalkRobot, context: ChannelContext) -> None:
    result = dingtalk_channel(dingtalk, context, secret="SECwrong").send(group_message())
    assert not result.ok and result.code == "310000" and not result.retryable
    assert dingtalk.accepted() == []


def test_dingtalk_unknown_token_is_not_retryable(dingtalk: DingTalkRobot, context: ChannelContext) -> None:
    result = dingtalk_channel(dingtalk, context, url=f"{dingtalk.base_url}/robot/send?access_token=nope").send(
        group_message()
    )
    assert result.code == "300001" and not result.retryable and "nope" not in result.detail


def test_feishu_unknown_hook_is_not_retryable(feishu: FeishuBot, context: ChannelContext) -> None:
    result = feishu_channel(feishu, context, url=f"{feishu.base_url}/open-apis/bot/v2/hook/nope").send(group_message())
    assert result.code == "19001" and not result.retryable  # answered with HTTP 400: the body's code decides


def test_dingtalk_stale_timestamp_is_refused(dingtalk: DingTalkRobot, context: ChannelContext) -> None:
    result = dingtalk_channel(dingtalk, context, clock=lambda: time.time() - 7200).send(group_message())
    assert not result.ok and result.code == "310000" and not result.retryable


def test_dingtalk_keywords(context: ChannelContext) -> None:
    server = DingTalkRobot(secret=None, keywords=("消防",))
    for _ in _serve(server):
        assert dingtalk_channel(server, context, keywords=("消防",)).send(group_message()).ok
        assert "消防" in server.accepted()[0].json["actionCard"]["text"]
        refused = dingtalk_channel(server, context).send(group_message())
        assert refused.code == "310000" and not refused.retryable


def test_dingtalk_too_fast_blocks_for_ten_minutes(dingtalk: DingTalkRobot, context: ChannelContext) -> None:
    channel = dingtalk_channel(dingtalk, context)
    results = [channel.send(group_message(job=f"j{i}")) for i in range(21)]
    assert all(r.ok for r in results[:20])
    assert results[20].code == "130101" and results[20].retryable and results[20].throttled_for_s == 600
    dingtalk.clock.now += 120  # type: ignore[attr-defined]
    assert channel.send(group_message()).code == "130101"  # still blocked: DingTalk's 10 minutes
    dingtalk.clock.now += 600  # type: ignore[attr-defined]
    assert channel.send(group_message()).ok


def test_dingtalk_digest_buttons_open_the_console(dingtalk: DingTalkRobot, context: ChannelContext) -> None:
    cards = make_cards(5, drill=True)
    assert dingtalk_channel(dingtalk, context).send(group_message(*cards)).ok
    card = dingtalk.accepted()[0].json["actionCard"]
    assert card["title"].startswith("【演练】")
    assert all(f"({c.alarm_url})" in card["text"] for c in cards)
    assert {b["actionURL"] for b in card["btns"]} == {CONSOLE}


# --- Feishu -----------------------------------------------------------------------------------------------------


def feishu_channel(server: FeishuBot, context: ChannelContext, **fields: Any) -> FeishuChannel:
    fields.setdefault("url", server.url)
    if "secret" not in fields and server.secret is not None:
        fields["secret"] = server.secret
    clock = fields.pop("clock", time.time)
    return track(FeishuChannel(FeishuConfig(id="feishu", type="feishu", **fields), context, clock=clock))


def test_feishu_sign_matches_the_documented_recipe() -> None:
    ts, secret = 1700000000, "s3cret"
    expected = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
    assert feishu_sign(secret, ts) == expected


def test_feishu_signed_card_delivered(feishu: FeishuBot, context: ChannelContext) -> None:
    assert feishu_channel(feishu, context).send(group_message()).ok
    body = feishu.accepted()[0].json
    assert body["msg_type"] == "interactive" and body["timestamp"].isdigit() and body["sign"]
    card = body["card"]
    assert card["header"]["template"] == "red"
    assert card["header"]["title"]["content"].startswith("【火警】")
    assert "处置预案" in card["elements"][0]["text"]["content"]
    buttons = card["elements"][1]["actions"]
    assert [b["text"]["content"] for b in buttons] == ["查看", "确认"]
    no_personal_data(feishu.accepted()[0].body)


def test_feishu_hook_from_file(feishu: FeishuBot, context: ChannelContext) -> None:
    (context.data_dir / "feishu.hook").write_text(feishu.hook)
    config = FeishuConfig(
        id="f",
        type="feishu",
        hook_file="feishu.hook",
        base_url=f"{feishu.base_url}/open-apis/bot/v2/hook/",
        secret=feishu.secret,
    )
    assert track(FeishuChannel(config, context)).send(group_message()).ok


def test_feishu_bad_signature_is_19021(feishu: FeishuBot, context: ChannelContext) -> None:
    result = feishu_channel(feishu, context, secret="nope").send(group_message())
    assert not result.ok and result.code == "19021" and not result.retryable
    stale = feishu_channel(feishu, context, clock=lambda: time.time() - 3700).send(group_message())
    assert stale.code == "19021"


def test_feishu_five_a_second(feishu: FeishuBot, context: ChannelContext) -> None:
    channel = feishu_channel(feishu, context)
    results = [channel.send(group_message(job=f"j{i}")) for i in range(6)]
    assert all(r.ok for r in results[:5])
    assert results[5].code == "11232" and results[5].retryable and results[5].throttled_for_s is not None
    feishu.clock.now += 1.01  # type: ignore[attr-defined]
    assert channel.send(group_message()).ok


def test_feishu_hundred_a_minute(feishu: FeishuBot, context: ChannelContext) -> None:
    channel = feishu_channel(feishu, context)
    for i in range(100):
        feishu.clock.now += 0.25  # type: ignore[attr-defined]  # 4 a second: under the per-second limit
        assert channel.send(group_message(job=f"j{i}")).ok, i
    feishu.clock.now += 0.25  # type: ignore[attr-defined]
    assert channel.send(group_message()).code == "11232"


def test_feishu_9499_too_many_with_http_400_is_throttled(feishu: FeishuBot, context: ChannelContext) -> None:
    feishu.too_many_as_9499 = True
    channel = feishu_channel(feishu, context)
    results = [channel.send(group_message(job=f"j{i}")) for i in range(6)]
    assert results[5].code == "9499" and results[5].retryable and results[5].throttled_for_s is not None


def test_feishu_body_stays_under_20_kb(feishu: FeishuBot, context: ChannelContext) -> None:
    card = make_card(plan=tuple(f'第 {i} 步："按预案"处置并报告\n' for i in range(2000)))
    assert feishu_channel(feishu, context).send(group_message(card)).ok
    assert len(feishu.accepted()[0].body) <= 20 * 1024
    cards = make_cards(400)
    assert feishu_channel(feishu, context).send(group_message(*cards)).ok
    content = feishu.accepted()[1].json["card"]["elements"][0]["text"]["content"]
    shown = sum(f"({c.alarm_url})" in content for c in cards)
    assert f"另外 {400 - shown} 条报警" in content


def test_feishu_english(feishu: FeishuBot, context: ChannelContext) -> None:
    assert feishu_channel(feishu, context, lang="en").send(group_message(make_card(lang="en", drill=True))).ok
    card = feishu.accepted()[0].json["card"]
    assert card["header"]["template"] == "purple"
    assert card["header"]["title"]["content"].startswith("[DRILL]")
    assert [b["text"]["content"] for b in card["elements"][1]["actions"]] == ["View", "Ack"]


# --- ntfy -------------------------------------------------------------------------------------------------------


def ntfy_channel(server: NtfyServer, context: ChannelContext, **fields: Any) -> NtfyChannel:
    fields.setdefault("base_url", server.base_url)
    if "token" not in fields and "token_file" not in fields and server.token is not None:
        fields["token"] = server.token
    return track(NtfyChannel(NtfyConfig(id="ntfy", type="ntfy", **fields), context))


def test_ntfy_personal_push_with_acknowledge_action(ntfy: NtfyServer, context: ChannelContext) -> None:
    result = ntfy_channel(ntfy, context).send(personal_message("liqiang_x7"))
    assert result.ok and result.extra == {"id": "msg1"}
    request = ntfy.accepted()[0]
    assert request.path == "/liqiang_x7"
    assert ntfy.decoded(request, "X-Title") == "【火警】2号楼 1单元 1502 烟雾报警 1"
    assert request.headers["x-priority"] == "5"
    assert "rotating_light" in (ntfy.decoded(request, "X-Tags") or "")
    actions = ntfy.decoded(request, "X-Actions")
    assert actions == (f"http, 确认, {LINKS.acknowledge}, method=POST, clear=true; view, 打开处置页, {LINKS.open}")
    text = request.body.decode()
    assert all(line in text for line in CARE)  # a personal channel: the responsible person sees the care lines
    assert len(request.body) <= 4096


def test_ntfy_priorities(ntfy: NtfyServer, context: ChannelContext) -> None:
    channel = ntfy_channel(ntfy, context)
    for severity, expected in (("critical", "5"), ("warning", "4"), ("info", "3")):
        assert channel.send(personal_message("topic1", make_card(severity=severity))).ok
        assert ntfy.accepted()[-1].headers["x-priority"] == expected


def test_ntfy_token_from_file_and_refused_without(ntfy: NtfyServer, context: ChannelContext) -> None:
    (context.data_dir / "ntfy.token").write_text(f"{ntfy.token}\n")
    assert ntfy_channel(ntfy, context, token_file="ntfy.token").send(personal_message("t1")).ok
    result = ntfy_channel(ntfy, context, token="wrong").send(personal_message("t1"))
    assert not result.ok and result.code == "401" and not result.retryable


def test_ntfy_needs_a_recipient(ntfy: NtfyServer, context: ChannelContext) -> None:
    channel = ntfy_channel(ntfy, context)
    result = channel.send(group_message())
    assert not result.ok and not result.retryable and result.code == "recipient"
    assert not channel.send(personal_message("../admin")).retryable
    assert ntfy.received == []


def test_ntfy_429_is_throttled(context: ChannelContext) -> None:
    server = NtfyServer(per_minute=2)
    for _ in _serve(server):
        channel = ntfy_channel(server, context)
        results = [channel.send(personal_message("t1")) for _ in range(3)]
        assert results[0].ok and results[1].ok
        assert results[2].code == "429" and results[2].retryable and results[2].throttled_for_s == 60


def test_ntfy_drill_and_english(ntfy: NtfyServer, context: ChannelContext) -> None:
    card = make_card(lang="en", drill=True)
    assert ntfy_channel(ntfy, context, lang="en").send(personal_message("t1", card)).ok
    request = ntfy.accepted()[0]
    assert (ntfy.decoded(request, "X-Title") or "").startswith("[DRILL]")
    assert "drill" in (ntfy.decoded(request, "X-Tags") or "")
    assert request.body.decode().startswith("[DRILL]")
    assert header_value("ascii only") == "ascii only"


def test_ntfy_digest_views_the_console(ntfy: NtfyServer, context: ChannelContext) -> None:
    cards = make_cards(4)
    assert ntfy_channel(ntfy, context).send(personal_message("t1", *cards)).ok
    request = ntfy.accepted()[0]
    assert ntfy.decoded(request, "X-Actions") == f"view, 查看, {CONSOLE}"
    assert all(c.alarm_url in request.body.decode() for c in cards)


# --- generic webhook --------------------------------------------------------------------------------------------


def webhook_channel(server: WebhookReceiver, context: ChannelContext, **fields: Any) -> WebhookChannel:
    fields.setdefault("url", server.url)
    if "secret" not in fields and server.secret is not None:
        fields["secret"] = server.secret
    config = WebhookConfig.model_validate({"id": "hook", "type": "webhook", **fields})
    return track(WebhookChannel(config, context))


def test_webhook_signed_json_group(receiver: WebhookReceiver, context: ChannelContext) -> None:
    result = webhook_channel(receiver, context).send(group_message(job="job-42"))
    assert result.ok and result.code == "200"
    request = receiver.accepted()[0]
    body = request.json
    assert request.headers["x-compound-job"] == "job-42" == body["job_id"]
    assert request.headers["x-compound-timestamp"] == str(body["sent_at"])
    assert request.headers["x-compound-signature"] == signature("webhook-secret", request.body)
    assert body["digest"] is False and body["cards"][0]["alarm_id"] == 1
    assert body["cards"][0]["raised_at"] == "2026-11-28T18:14:07+00:00"
    assert body["cards"][0]["care"] == [] and "recipient" not in body and "links" not in body
    no_personal_data(request.body)


def test_webhook_personal_carries_care_and_links(receiver: WebhookReceiver, context: ChannelContext) -> None:
    channel = webhook_channel(receiver, context, personal=True)
    assert channel.config.group is False
    assert channel.send(personal_message("ignored")).ok
    body = receiver.accepted()[0].json
    assert body["cards"][0]["care"] == list(CARE)
    assert body["links"]["acknowledge"] == LINKS.acknowledge and body["recipient"]["person"] == "li-qiang"


def test_webhook_digest_lists_every_card(receiver: WebhookReceiver, context: ChannelContext) -> None:
    cards = make_cards(30)
    assert webhook_channel(receiver, context).send(group_message(*cards)).ok
    body = receiver.accepted()[0].json
    assert body["digest"] is True and [c["alarm_id"] for c in body["cards"]] == list(range(1, 31))


@pytest.mark.parametrize(
    "status, retryable, throttled",
    [(500, True, None), (503, True, None), (429, True, 7.0), (404, False, None), (400, False, None)],
)
def test_webhook_status_codes(
    receiver: WebhookReceiver, context: ChannelContext, status: int, retryable: bool, throttled: float | None
) -> None:
    from tests.hub.notify.platforms import Answer

    receiver.answers.append(Answer(status, {"error": "x"}, headers={"Retry-After": "7"} if status == 429 else {}))
    result = webhook_channel(receiver, context).send(group_message())
    assert not result.ok and result.code == str(status)
    assert result.retryable is retryable and result.throttled_for_s == throttled


def test_webhook_bad_secret_is_refused(receiver: WebhookReceiver, context: ChannelContext) -> None:
    result = webhook_channel(receiver, context, secret="other").send(group_message())
    assert result.code == "401" and not result.retryable


# --- SMS --------------------------------------------------------------------------------------------------------


def sms_channel(server: SmsGateway, **fields: Any) -> SmsChannel:
    fields.setdefault("url", server.url)
    fields.setdefault("api_key", server.api_key)
    config = SmsConfig(id="sms", type="sms", **fields)
    return track(SmsChannel(config, HttpSmsProvider(config, config.api_key or "")))


def test_sms_short_text_to_the_recipients_phone(gateway: SmsGateway) -> None:
    result = sms_channel(gateway, sign_name="阳光花园物业").send(personal_message("13900001111"))
    assert result.ok and result.code == "OK" and result.extra == {"biz_id": "biz1"}
    body = gateway.accepted()[0].json
    assert body["phone"] == "13900001111" and body["voice"] is False and body["sign_name"] == "阳光花园物业"
    assert len(body["text"]) <= 70 and body["text"].endswith(LINKS.open) and "2号楼" in body["text"]
    assert RESIDENT not in body["text"]


def test_sms_voice_call_has_no_link(gateway: SmsGateway) -> None:
    assert sms_channel(gateway, voice=True).send(personal_message("13900001111")).ok
    body = gateway.accepted()[0].json
    assert body["voice"] is True and "http" not in body["text"] and "烟雾报警" in body["text"]


def test_sms_flow_control_and_bad_number(gateway: SmsGateway) -> None:
    channel = sms_channel(gateway)
    assert channel.send(personal_message("13900001111")).ok
    again = channel.send(personal_message("13900001111"))
    assert again.code == "isv.BUSINESS_LIMIT_CONTROL" and again.retryable and again.throttled_for_s == 60
    bad = channel.send(personal_message("12345"))
    assert bad.code == "isv.MOBILE_NUMBER_ILLEGAL" and not bad.retryable
    assert not channel.send(group_message()).retryable  # no phone at all


def test_sms_wrong_key(gateway: SmsGateway) -> None:
    result = sms_channel(gateway, api_key="wrong").send(personal_message("13900001111"))
    assert not result.ok and result.code == "isv.INVALID_KEY" and result.retryable


# --- network failures -------------------------------------------------------------------------------------------


def test_a_platform_that_hangs_is_a_retryable_timeout(context: ChannelContext) -> None:
    silent = SilentServer()
    try:
        config = WeComConfig(id="w", type="wecom", url=silent.url + "?key=k", timeout_s=0.3)
        started = time.monotonic()
        result = track(WeComChannel(config, context)).send(group_message())
        assert time.monotonic() - started < 5
        assert not result.ok and result.code is None and result.retryable and "timeout" in result.detail
        assert "key=k" not in result.detail
    finally:
        silent.stop()


def test_nothing_listening_is_a_retryable_failure(context: ChannelContext) -> None:
    url = f"http://127.0.0.1:{free_port()}/robot/send?access_token=t"
    channels: list[DingTalkChannel | FeishuChannel | NtfyChannel | WebhookChannel] = [
        DingTalkChannel(DingTalkConfig(id="d", type="dingtalk", url=url, secret="s"), context),
        FeishuChannel(FeishuConfig(id="f", type="feishu", url=url), context),
        NtfyChannel(NtfyConfig(id="n", type="ntfy", base_url=url.split("/robot")[0]), context),
        WebhookChannel(WebhookConfig(id="h", type="webhook", url=url), context),
    ]
    for channel in channels:
        track(channel)
        result = channel.send(personal_message("t1"))
        assert not result.ok and result.code is None and result.retryable, (channel, result)
        assert "cannot reach" in result.detail and "access_token" not in result.detail
