"""Token buckets at the platforms' documented limits: WeCom / DingTalk 20 a minute, Feishu 100 a minute and 5 a
second, DingTalk's 10-minute block after "too fast"."""

from __future__ import annotations

from hub.notify.channels.dingtalk import DingTalkConfig
from hub.notify.channels.feishu import FeishuConfig
from hub.notify.channels.wecom import WeComConfig
from hub.notify.ratelimit import TokenBucket


def bucket(config: type[WeComConfig] | type[DingTalkConfig] | type[FeishuConfig]) -> TokenBucket:
    assert config.default_rate is not None
    return TokenBucket(config.default_rate)


def test_twenty_a_minute() -> None:
    wecom = bucket(WeComConfig)
    assert all(wecom.take(100.0 + i * 0.1) for i in range(20))
    assert not wecom.take(102.0)
    assert wecom.next_at(102.0) == 160.0  # the first of the twenty leaves the window
    assert not wecom.take(159.9)
    assert wecom.take(160.0)
    assert not wecom.take(160.05)  # the second of the twenty went at 100.1
    assert wecom.take(160.1)


def test_a_rolling_minute_not_a_calendar_one() -> None:
    wecom = bucket(WeComConfig)
    for i in range(20):
        assert wecom.take(50.0 + i)  # 50 … 69
    assert not wecom.take(100.0)
    assert wecom.next_at(100.0) == 110.0


def test_five_a_second_and_a_hundred_a_minute() -> None:
    feishu = bucket(FeishuConfig)
    assert all(feishu.take(10.0 + i * 0.01) for i in range(5))
    assert not feishu.take(10.5)
    assert feishu.next_at(10.5) == 11.0
    sent = 5
    now = 11.0
    while sent < 100:
        assert feishu.take(now), (sent, now)
        sent += 1
        now += 0.25
    assert not feishu.take(now)
    assert feishu.next_at(now) == 70.0  # the first message (10.0) leaves the minute


def test_dingtalk_too_fast_blocks_for_ten_minutes() -> None:
    ding = bucket(DingTalkConfig)
    assert ding.take(0.0)
    ding.penalise(1.0)
    assert ding.next_at(1.0) == 601.0
    assert not ding.take(600.0)
    assert ding.take(601.0)


def test_penalise_for_what_the_platform_said() -> None:
    wecom = bucket(WeComConfig)
    wecom.penalise(5.0, 7.5)
    assert wecom.next_at(5.0) == 12.5
    wecom.penalise(6.0, 1.0)  # a shorter block never shortens a longer one
    assert wecom.next_at(6.0) == 12.5
