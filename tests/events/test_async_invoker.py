"""Asynchronous invocation end to end: real guests, the embedded queue, destinations, retries, dead letters."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from events_stack import FAST, StackFactory

from wasmfaas import Platform
from wasmfaas.errors import FunctionNotFoundError, InvalidParameterError, PayloadTooLargeError
from wasmfaas.events import (
    MAX_ASYNC_PAYLOAD,
    MAX_DESTINATION_HOPS,
    AsyncInvoker,
    DeadLetterNotFoundError,
    EventInvokeConfig,
    QueuedEvent,
    SqliteEventQueue,
)
from wasmfaas.invoker import check_json_payload
from wasmfaas.results import InvocationResult

pytestmark = pytest.mark.anyio

ARN = "arn:aws:lambda:local:000000000000:function:"


def config(**fields: object) -> EventInvokeConfig:
    """An EventInvokeConfig from its wire form, as the server decodes it."""
    return msgspec.json.decode(msgspec.json.encode(fields), type=EventInvokeConfig)


def destinations(on_success: str | None = None, on_failure: str | None = None) -> dict[str, object]:
    sides: dict[str, object] = {}
    if on_success:
        sides["OnSuccess"] = {"Destination": on_success}
    if on_failure:
        sides["OnFailure"] = {"Destination": on_failure}
    return sides


async def test_submit_returns_a_request_id_and_the_event_runs(stack: StackFactory) -> None:
    async with stack() as s:
        await s.deploy("rec", "recorder")
        request_id = await s.events.submit("rec", None, b'{"hello": "world"}')
        assert uuid.UUID(request_id).version == 4
        assert await s.lines("rec", "EVENT ", 1) == ['{"hello": "world"}']
        await s.settled()


async def test_submit_refuses_what_lambda_refuses(stack: StackFactory) -> None:
    async with stack(run=False) as s:
        await s.deploy("echo", "echo")
        with pytest.raises(PayloadTooLargeError):
            await s.events.submit("echo", None, b"x" * (MAX_ASYNC_PAYLOAD + 1))
        await s.events.submit("echo", None, b"x" * MAX_ASYNC_PAYLOAD)  # the limit itself is allowed
        with pytest.raises(FunctionNotFoundError):
            await s.events.submit("nope", None, b"{}")
        with pytest.raises(FunctionNotFoundError):
            await s.events.submit("echo", "7", b"{}")  # no such version
        assert await s.events.queued() == 1


async def test_qualified_event_runs_that_version(stack: StackFactory) -> None:
    async with stack() as s:
        await s.deploy("fn", "recorder")
        await s.platform.publish_version("fn")
        await s.platform.update_function_code("fn", s.build("echo"))  # $LATEST no longer records
        await s.platform.create_alias("fn", "live", "1")
        await s.events.submit("fn", "live", b'"via alias"')
        await s.events.submit("fn", "1", b'"via version"')
        assert sorted(await s.lines("fn", "EVENT ", 2)) == ['"via alias"', '"via version"']
        assert {e.version for e in await s.logs.query("fn")} == {"1"}


async def test_success_sends_the_invocation_record_to_on_success(stack: StackFactory) -> None:
    async with stack() as s:
        await s.deploy("src", "echo")
        await s.deploy("dest", "recorder")
        await s.events.put_event_invoke_config("src", config(DestinationConfig=destinations(on_success=ARN + "dest")))
        before = time.time()
        request_id = await s.events.submit("src", None, b'{"order": 42}')
        [record] = await s.records("dest", 1)
        assert record == {
            "version": "1.0",
            "timestamp": record["timestamp"],
            "requestContext": {
                "requestId": request_id,
                "functionArn": ARN + "src:$LATEST",
                "condition": "Success",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {"order": 42},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
            "responsePayload": {"order": 42},
        }
        stamp = time.mktime(time.strptime(record["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert before - 1 <= stamp <= time.time() + 1
        assert record["timestamp"].endswith("Z")
        await s.settled()
        assert await s.events.list_dead_letters() == []


async def test_function_errors_are_retried_with_backoff_then_sent_to_on_failure(stack: StackFactory) -> None:
    async with stack() as s:
        await s.deploy("bad", "trap")
        await s.deploy("dlq", "recorder")
        await s.events.put_event_invoke_config("bad", config(DestinationConfig=destinations(on_failure="dlq")))
        request_id = await s.events.submit("bad", None, b'"error"')
        [record] = await s.records("dlq", 1)
        assert record["requestContext"] == {
            "requestId": request_id,
            "functionArn": ARN + "bad:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        }
        assert record["requestPayload"] == "error"
        assert record["responseContext"] == {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Handled",
        }
        assert record["responsePayload"]["errorType"] == "MyError"
        # Two retries (Lambda's default), the second after twice the first delay (50 ms, then 100 ms).
        first, second, third = await s.invocations("bad")
        assert second - first >= 0.045
        assert third - second >= 0.095
        await s.settled()
        assert await s.events.list_dead_letters() == []


async def test_a_crash_is_retried_like_an_error_and_dead_lettered_without_on_failure(stack: StackFactory) -> None:
    async with stack() as s:
        await s.deploy("crash", "trap")
        await s.events.put_event_invoke_config("crash", config(MaximumRetryAttempts=1))
        request_id = await s.events.submit("crash", None, b'"trap"')
        [letter] = await s.dead_letters("crash", 1)
        assert letter.request_id == request_id
        assert letter.condition == "RetriesExhausted"
        assert letter.attempts == 2
        assert letter.payload == b'"trap"'
        assert "Unhandled" in letter.reason
        assert letter.record is not None
        assert letter.record.response_context is not None
        assert letter.record.response_context.function_error == "Unhandled"
        assert len(await s.invocations("crash")) == 2
        assert await s.events.get_dead_letter(letter.id) == letter


async def test_a_dead_letter_replays_and_then_succeeds(stack: StackFactory) -> None:
    async with stack() as s:
        # Fails its first three invocations: with no retries, the first one fails for good.
        await s.deploy("flaky", "flaky", environment={"FAIL_TIMES": "3"})
        await s.events.put_event_invoke_config("flaky", config(MaximumRetryAttempts=0))
        first_id = await s.events.submit("flaky", None, b'{"job": 1}')
        [letter] = await s.dead_letters("flaky", 1)
        assert (letter.request_id, letter.condition, letter.attempts) == (first_id, "RetriesExhausted", 1)
        assert "FlakyError: failing on purpose" in letter.reason

        await s.events.put_event_invoke_config("flaky", config(MaximumRetryAttempts=2))
        replayed_id = await s.events.replay(letter.id)
        assert replayed_id != first_id
        assert await s.events.list_dead_letters("flaky") == []
        # Invocation 2 and 3 fail, the second retry (invocation 4) succeeds.
        assert await s.lines("flaky", "ATTEMPT ", 4) == [f'{n} {{"job": 1}}' for n in (1, 2, 3, 4)]
        await s.settled()
        assert await s.events.list_dead_letters() == []
        with pytest.raises(DeadLetterNotFoundError):
            await s.events.replay(letter.id)


async def test_one_function_s_backlog_does_not_hold_up_another_s(stack: StackFactory) -> None:
    # Four event slots: one function takes at most three, so another's event runs at once, not after the backlog.
    async with stack(concurrency=4) as s:
        await s.deploy("slow", "sleep")
        await s.deploy("fast", "echo")
        for _ in range(6):
            await s.events.submit("slow", None, b"3000")
        with anyio.fail_after(5):
            while s.events.in_flight < 3:
                await anyio.sleep(0.01)
        await anyio.sleep(0.1)
        assert s.events.in_flight == 3  # the fourth slot stays free for the others
        await s.events.submit("fast", None, b'"quick"')
        with anyio.fail_after(2.5):  # well before a slow one ends and frees a slot
            while not await s.invocations("fast"):
                await anyio.sleep(0.02)
        assert s.events.in_flight == 3


async def test_a_backlog_passed_over_does_not_spin_the_loop(stack: StackFactory) -> None:
    # Its events due but its slots taken: the claim passes over them, and the loop waits for a slot to free rather
    # than asking again at once (thousands of claims a second, a core's worth of CPU).
    async with stack(concurrency=2, run=False) as s:
        await s.deploy("slow", "sleep")
        queue = s.events._queue
        claims = 0
        claim = queue.claim

        async def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal claims
            claims += 1
            return await claim(*args, **kwargs)

        queue.claim = counted  # type: ignore[method-assign]
        for _ in range(3):
            await s.events.submit("slow", None, b"600")
        await s.start()
        with anyio.fail_after(5):
            while s.events.in_flight < 1:
                await anyio.sleep(0.01)
        claims = 0
        await anyio.sleep(0.4)  # one runs (one slot per function of two), two wait behind it
        assert s.events.in_flight == 1 and claims <= 10, claims
        await s.settled()  # and a finished one wakes the loop for the next
        assert len(await s.invocations("slow")) == 3


async def test_dead_letters_are_kept_for_their_retention(stack: StackFactory) -> None:
    async with stack(dead_letter_retention_s=0.6) as s:
        await s.deploy("crash", "trap")
        await s.events.put_event_invoke_config("crash", config(MaximumRetryAttempts=0))
        await s.events.submit("crash", None, b'"trap"')
        [letter] = await s.dead_letters("crash", 1)
        with anyio.fail_after(10):  # looked at every 0.15 s (a quarter of the retention)
            while await s.events.list_dead_letters():
                await anyio.sleep(0.05)
        assert time.time() - letter.failed_at >= 0.6
        with pytest.raises(DeadLetterNotFoundError):
            await s.events.get_dead_letter(letter.id)


async def test_the_dead_letter_retention_must_be_positive(data_dir: Path) -> None:
    async with Platform(data_dir=data_dir) as platform:
        for bad in (0, -1.0):
            with pytest.raises(InvalidParameterError, match="dead_letter_retention_s"):
                AsyncInvoker(platform, dead_letter_retention_s=bad)


async def test_events_older_than_the_maximum_age_fail_without_running(stack: StackFactory, data_dir: Path) -> None:
    async with stack() as s:
        await s.deploy("fn", "recorder")
        await s.deploy("dlq", "recorder")
        await s.events.put_event_invoke_config(
            "fn", config(MaximumEventAgeInSeconds=60, DestinationConfig=destinations(on_failure="dlq"))
        )
        # An event that waited in the queue for 61 s (put there as a backlog would have left it).
        async with SqliteEventQueue(data_dir) as queue:
            await queue.put(
                QueuedEvent(
                    id="old-event",
                    function_name="fn",
                    qualifier=None,
                    payload=b'"stale"',
                    enqueued_at=time.time() - 61,
                )
            )
        [record] = await s.records("dlq", 1)
        assert record["requestContext"]["condition"] == "EventAgeExceeded"
        assert record["requestContext"]["requestId"] == "old-event"
        assert record["requestContext"]["approximateInvokeCount"] == 0
        assert record["requestPayload"] == "stale"
        assert "responseContext" not in record
        assert "responsePayload" not in record
        assert await s.invocations("fn") == []


async def test_a_retry_past_the_maximum_age_fails_at_the_age_limit(stack: StackFactory, data_dir: Path) -> None:
    async with stack(retry_delay=30.0) as s:
        await s.deploy("bad", "trap")
        await s.events.put_event_invoke_config("bad", config(MaximumEventAgeInSeconds=60))
        async with SqliteEventQueue(data_dir) as queue:
            await queue.put(
                QueuedEvent(
                    id="aging",
                    function_name="bad",
                    qualifier=None,
                    payload=b'"error"',
                    enqueued_at=time.time() - 59.5,
                )
            )
        # The retry would come 30 s later, past the age limit: the event fails when it reaches the limit.
        [letter] = await s.dead_letters("bad", 1, timeout=5.0)
        assert letter.condition == "EventAgeExceeded"
        assert letter.attempts == 1
        assert letter.record is not None
        assert letter.record.response_context is not None
        assert letter.record.response_context.function_error == "Handled"
        assert "MyError" in letter.reason
        assert time.time() - letter.enqueued_at < 62


async def test_throttled_events_are_retried_not_lost(stack: StackFactory) -> None:
    async with stack(concurrency=8) as s:
        # One at a time: with 8 workers most attempts are throttled. No retries for function errors, so a throttle
        # that used one up would turn into a dead letter.
        await s.deploy("slow", "sleep", reserved_concurrency=1)
        await s.events.put_event_invoke_config("slow", config(MaximumRetryAttempts=0))
        for _ in range(6):
            await s.events.submit("slow", None, b"30")
        await s.settled()
        assert len(await s.invocations("slow")) == 6
        assert await s.events.list_dead_letters() == []


async def test_a_function_throttled_until_the_age_limit_fails_with_event_age_exceeded(
    stack: StackFactory, data_dir: Path
) -> None:
    async with stack() as s, anyio.create_task_group() as tg:
        await s.deploy("busy", "sleep", reserved_concurrency=1)
        await s.events.put_event_invoke_config("busy", config(MaximumEventAgeInSeconds=60, MaximumRetryAttempts=0))
        tg.start_soon(s.platform.invoke, "busy", b"2000")  # holds its one slot: every event attempt is throttled
        with anyio.fail_after(5):
            while not s.platform.concurrency_in_flight("busy"):
                await anyio.sleep(0.01)
        async with SqliteEventQueue(data_dir) as queue:
            await queue.put(
                QueuedEvent(
                    id="t", function_name="busy", qualifier=None, payload=b"1", enqueued_at=time.time() - 59.7
                )
            )
        [letter] = await s.dead_letters("busy", 1, timeout=5.0)
        assert letter.condition == "EventAgeExceeded"
        assert letter.attempts == 0
        assert "throttle" in letter.reason
        assert letter.record is not None and letter.record.response_context is None


async def test_a_function_reserved_to_zero_sends_its_events_on_without_retries(stack: StackFactory) -> None:
    # As Lambda: straight to the OnFailure destination (else a dead letter), not held for up to six hours.
    async with stack() as s:
        await s.deploy("off", "echo", reserved_concurrency=0)
        await s.deploy("failures", "recorder")
        await s.events.put_event_invoke_config("off", config(DestinationConfig=destinations(on_failure="failures")))
        request_id = await s.events.submit("off", None, b'{"n": 1}')
        [record] = await s.records("failures", 1)
        assert record["requestContext"] == {
            "requestId": request_id,
            "functionArn": ARN + "off:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 0,
        }
        assert record["requestPayload"] == {"n": 1} and "responseContext" not in record
        await s.events.delete_event_invoke_config("off")
        await s.events.submit("off", None, b'{"n": 2}')
        [letter] = await s.dead_letters("off", 1, timeout=5.0)
        assert (letter.condition, letter.attempts) == ("RetriesExhausted", 0)
        assert "reserved concurrency is 0" in letter.reason
        assert await s.invocations("off") == []
        # The reservation is the function's, shared by its versions: one published before it counts too.
        await s.deploy("later", "echo")
        await s.platform.publish_version("later")
        await s.platform.put_function_concurrency("later", 0)
        await s.events.submit("later", "1", b'{"n": 3}')
        [letter] = await s.dead_letters("later", 1, timeout=5.0)
        assert "reserved concurrency is 0" in letter.reason


async def test_a_destination_that_no_longer_exists_gives_a_dead_letter(stack: StackFactory) -> None:
    async with stack() as s:
        await s.deploy("src", "echo")
        await s.deploy("gone", "recorder")
        await s.events.put_event_invoke_config("src", config(DestinationConfig=destinations(on_success=ARN + "gone")))
        await s.platform.delete_function("gone")
        request_id = await s.events.submit("src", None, b'{"a": 1}')
        [letter] = await s.dead_letters("src", 1)
        assert letter.request_id == request_id
        assert letter.condition == "DestinationNotFound"
        assert ARN + "gone" in letter.reason
        assert letter.record is not None
        assert letter.record.request_context.condition == "Success"


async def test_an_event_for_a_deleted_function_becomes_a_dead_letter(stack: StackFactory) -> None:
    async with stack(run=False) as s:
        await s.deploy("doomed", "echo")
        request_id = await s.events.submit("doomed", None, b"{}")
        await s.platform.delete_function("doomed")
        await s.events.forget_function("doomed")
        await s.start()
        [letter] = await s.dead_letters("doomed", 1)
        assert (letter.request_id, letter.condition, letter.attempts) == (request_id, "FunctionNotFound", 0)


async def test_an_event_of_a_deleted_function_never_runs_on_its_successor(stack: StackFactory) -> None:
    # Deleted with an event waiting, then created again under the same name: the event goes to the dead letters
    # when its function is deleted, not to the new function when it comes up. A deleted version takes only its own.
    async with stack(run=False) as s:
        await s.deploy("reused", "echo")
        await s.platform.publish_version("reused")
        request_id = await s.events.submit("reused", None, b"{}")
        versioned = await s.events.submit("reused", "1", b"{}")
        await s.platform.delete_function("reused")
        await s.events.forget_function("reused")
        await s.deploy("reused", "recorder")
        await s.deploy("kept", "recorder")
        await s.platform.publish_version("kept")
        kept_request = await s.events.submit("kept", None, b"{}")
        doomed = await s.events.submit("kept", "1", b"{}")
        await s.platform.delete_function("kept", "1")
        await s.events.forget_function("kept", "1")
        await s.start()
        letters = await s.dead_letters(None, 3)
        assert sorted(letter.request_id for letter in letters) == sorted([request_id, versioned, doomed])
        assert {(letter.condition, letter.attempts) for letter in letters} == {("FunctionNotFound", 0)}
        assert "was deleted before the event was done" in letters[0].reason
        await s.settled()
        assert await s.invocations("reused") == []
        assert [entry.request_id for entry in await s.logs.query("kept")] == [kept_request]


async def test_a_dead_letter_of_a_deleted_function_is_kept_when_replayed(stack: StackFactory) -> None:
    async with stack(run=False) as s:
        await s.deploy("gone", "echo")
        await s.events.submit("gone", None, b"{}")
        await s.platform.delete_function("gone")
        await s.events.forget_function("gone")
        [letter] = await s.dead_letters("gone", 1)
        with pytest.raises(FunctionNotFoundError):
            await s.events.replay(letter.id)  # it would only die again, without its record
        assert await s.events.list_dead_letters("gone") == [letter]
        await s.deploy("gone", "recorder")  # back under that name: now the letter can go to it
        assert await s.events.replay(letter.id)
        assert await s.events.list_dead_letters("gone") == []


async def test_a_destination_loop_is_cut_off(stack: StackFactory) -> None:
    async with stack() as s:
        await s.deploy("loop", "trap")  # answers "ok", so each record is only a little larger than the last
        await s.events.put_event_invoke_config("loop", config(DestinationConfig=destinations(on_success="loop")))
        await s.events.submit("loop", None, b'"start"')
        [letter] = await s.dead_letters("loop", 1)
        assert letter.condition == "RecursiveInvocation"
        assert len(await s.invocations("loop")) == MAX_DESTINATION_HOPS + 1
        await s.settled()


async def test_dead_letters_list_page_and_delete(stack: StackFactory, caplog: pytest.LogCaptureFixture) -> None:
    async with stack() as s:
        await s.deploy("a", "trap")
        await s.deploy("b", "trap")
        for name in ("a", "b"):
            await s.events.put_event_invoke_config(name, config(MaximumRetryAttempts=0))
        for count, name in enumerate(("a", "b", "a"), 1):
            await s.events.submit(name, None, b'"error"')
            letters = await s.dead_letters(None, count)  # one at a time, so their order is known
        assert [letter.function_name for letter in letters] == ["a", "b", "a"]
        # Logged once a minute per function at most (a failing function wrote a line for every event).
        said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dead letter ")]
        assert [line.split(", ")[1].split(")")[0] for line in said] == ["a", "b"]
        assert len(await s.events.list_dead_letters("a")) == 2
        page = await s.events.list_dead_letters(limit=2)
        assert page == letters[:2]
        assert await s.events.list_dead_letters(after=page[-1].id) == letters[2:]
        await s.events.delete_dead_letter(letters[0].id)
        assert await s.events.list_dead_letters() == letters[1:]
        with pytest.raises(DeadLetterNotFoundError):
            await s.events.delete_dead_letter(letters[0].id)
        with pytest.raises(DeadLetterNotFoundError):
            await s.events.get_dead_letter("no-such-letter")


async def test_many_events_each_run_once(stack: StackFactory) -> None:
    async with stack(concurrency=4) as s:
        await s.deploy("rec", "recorder")
        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(s.events.submit, "rec", None, f"{i}".encode())
        seen = await s.lines("rec", "EVENT ", 40)
        await s.settled()
        assert sorted(map(int, seen)) == list(range(40))


async def test_a_record_too_large_for_its_destination_goes_without_its_payloads(stack: StackFactory) -> None:
    async with stack() as s:
        await s.deploy("big", "echo")
        await s.deploy("dest", "recorder")
        await s.events.put_event_invoke_config("big", config(DestinationConfig=destinations(on_success="dest")))
        payload = msgspec.json.encode("x" * 600_000)  # request and response payload: 1.2 MB together
        request_id = await s.events.submit("big", None, payload)
        [record] = await s.records("dest", 1)
        # As Lambda: the payloads are dropped, the rest delivered (it had been a dead letter, whose replay ran the
        # function that had succeeded again).
        assert "requestPayload" not in record and "responsePayload" not in record
        assert record["requestContext"]["requestId"] == request_id
        assert record["requestContext"]["condition"] == "Success"
        assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
        await s.settled()
        assert await s.events.list_dead_letters() == []


async def test_a_shutdown_hands_running_events_back_to_the_queue(stack: StackFactory, data_dir: Path) -> None:
    async with stack() as s:
        await s.deploy("slow", "sleep")
        request_id = await s.events.submit("slow", None, b"300")
        with anyio.fail_after(5):
            while s.events.in_flight == 0:
                await anyio.sleep(0.01)
    # Its outcome was not recorded: the event is due again at once (at least once), not after its 30 s lease.
    async with SqliteEventQueue(data_dir) as queue:
        event = await queue.claim(time.time(), 30)
        assert event is not None
        assert (event.id, event.delivery, event.attempts) == (request_id, 2, 0)
    # The abandoned guest finishes its sleep on its worker thread; let it, before this test's event loop closes.
    await anyio.sleep(0.4)


async def test_attempts_go_through_the_invoke_function_given(stack: StackFactory, data_dir: Path) -> None:
    calls: list[tuple[str, str | None, bytes, str]] = []
    async with stack(run=False) as s:

        async def invoke(name: str, qualifier: str | None, payload: bytes, /, *, request_id: str) -> InvocationResult:
            calls.append((name, qualifier, payload, request_id))
            return await s.platform.invoke(name, payload, qualifier=qualifier, request_id=request_id)

        await s.deploy("fn", "flaky", environment={"FAIL_TIMES": "1"})
        async with AsyncInvoker(s.platform, invoke=invoke, **FAST) as events, anyio.create_task_group() as tg:
            await tg.start(events.run)
            request_id = await events.submit("fn", "$LATEST", b'"x"')
            with anyio.fail_after(10):
                while len(calls) < 2 or await events.queued():
                    await anyio.sleep(0.02)
            tg.cancel_scope.cancel()
    # The failure and its retry, both under the id submit returned (Lambda keeps it across retries).
    assert calls == [("fn", "$LATEST", b'"x"', request_id)] * 2


async def test_an_event_its_function_can_no_longer_take_becomes_a_dead_letter_at_once(stack: StackFactory) -> None:
    # Bytes queued for a wasm function whose code has since become a Python or JavaScript one (which take JSON):
    # refused for good, not retried as a system error until its age runs out.
    calls: list[bytes] = []
    async with stack(run=False) as s:

        async def invoke(name: str, qualifier: str | None, payload: bytes, /, *, request_id: str) -> InvocationResult:
            calls.append(payload)
            check_json_payload(payload)  # as the platform's invoke does for a Python or JavaScript function
            return await s.platform.invoke(name, payload, qualifier=qualifier, request_id=request_id)

        await s.deploy("fn", "echo")
        async with AsyncInvoker(s.platform, invoke=invoke, **FAST) as events, anyio.create_task_group() as tg:
            request_id = await events.submit("fn", None, b"not json")  # a wasm function takes any bytes
            await tg.start(events.run)
            with anyio.fail_after(10):
                while not (letters := await events.list_dead_letters("fn")):
                    await anyio.sleep(0.02)
            tg.cancel_scope.cancel()
    [letter] = letters
    assert (letter.request_id, letter.condition, letter.payload) == (request_id, "InvalidRequestContent", b"not json")
    assert "Could not parse request body into json" in letter.reason
    assert calls == [b"not json"]


async def test_the_function_sees_the_request_id_submit_returned(stack: StackFactory) -> None:
    async with stack() as s:
        await s.deploy("ctx", "context")
        request_id = await s.events.submit("ctx", None, b"{}")
        await s.settled()
        (entry,) = await s.logs.query("ctx")
        assert entry.request_id == request_id
        assert f"START RequestId: {request_id} " in entry.text
        assert f"context: stdout line for {request_id}" in entry.text  # what the guest's context said


async def test_drain_lets_running_events_finish_and_starts_no_more(stack: StackFactory) -> None:
    async with stack() as s:
        await s.deploy("sleepy", "sleep", timeout=10.0)
        await s.events.submit("sleepy", None, b"300")
        with anyio.fail_after(10):
            while s.events.in_flight == 0:
                await anyio.sleep(0.01)
        assert await s.events.drain(5.0)
        await s.events.submit("sleepy", None, b"0")  # accepted, but not started while draining
        await anyio.sleep(0.3)
        assert s.events.in_flight == 0 and await s.events.queued() == 1
        await s.logs.flush()
        assert len(await s.logs.query("sleepy")) == 1
