"""The response cache: keys, its logs, misses, older layouts, and several writers at once."""

import hashlib
import json
import multiprocessing
import os

from evaltasks.harness import cache
from evaltasks.harness.cache import ResponseCache

PAYLOAD = {"model": "m", "messages": [{"role": "user", "content": "q"}], "temperature": 0.0, "max_tokens": 64}
REPLY = {"choices": [{"message": {"role": "assistant", "content": "Answer: 4"}, "finish_reason": "stop"}]}


def test_key_is_canonical_and_covers_model_payload_and_sample():
    key = ResponseCache.key("m", PAYLOAD)
    assert key == ResponseCache.key("m", dict(reversed(list(PAYLOAD.items()))))     # key order
    assert len(key) == 64 and int(key, 16) >= 0
    others = {
        ResponseCache.key("other", PAYLOAD),
        ResponseCache.key("m", dict(PAYLOAD, temperature=0.7)),
        ResponseCache.key("m", dict(PAYLOAD, max_tokens=65)),
        ResponseCache.key("m", PAYLOAD, sample=1),
        ResponseCache.key("m", PAYLOAD, sample=2),
    }
    assert key not in others and len(others) == 5


def test_keys_are_those_of_earlier_versions_and_of_the_text_sent():
    # An upgrade must find what an earlier version cached: the key is still the
    # sha256 of this JSON, however it is now computed.
    payload = dict(PAYLOAD, messages=[{"role": "user", "content": "Größe — 大小?\u2028"}], stop=["\n"])
    earlier = json.dumps({"model": "m", "payload": payload, "sample": 2},
                         sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    key = ResponseCache.key("m", payload, sample=2)
    assert key == hashlib.sha256(earlier.encode("utf-8")).hexdigest()
    assert ResponseCache.key("m", cache.canonical(payload), sample=2) == key


def test_sample_number_tells_repeated_copies_apart():
    assert cache.sample_number({"question": "q"}) == 0
    assert cache.sample_number({"repeat": 3}) == 3          # gpqa's expand
    assert cache.sample_number({"sample": 2}) == 2          # humaneval's expand


def test_put_then_get_as_lines_of_a_log(tmp_path):
    responses = ResponseCache(str(tmp_path))
    key = ResponseCache.key("m", PAYLOAD)
    assert responses.get(key) is None
    responses.put(key, REPLY)
    assert responses.get(key) == REPLY
    (log,) = tmp_path.iterdir()                 # one log per process, nothing else
    assert log.name.startswith("replies-") and log.name.endswith(".log")
    assert log.read_bytes() == f"{key}\t{json.dumps(REPLY)}\n".encode()
    # Another process (a rerun) finds it.
    assert ResponseCache(str(tmp_path)).get(key) == REPLY


def test_a_reply_is_on_disk_the_moment_it_is_stored(tmp_path):
    # No buffer to flush: a run killed right after put has kept the reply.
    responses = ResponseCache(str(tmp_path))
    key = ResponseCache.key("m", PAYLOAD)
    responses.put(key, REPLY)
    assert ResponseCache(str(tmp_path)).get(key) == REPLY     # responses not closed


def test_the_latest_reply_wins_across_logs_and_within_one(tmp_path):
    key = ResponseCache.key("m", PAYLOAD)
    first = ResponseCache(str(tmp_path))
    first.put(key, REPLY)
    first.put(key, dict(REPLY, id="again"))             # within one log: the last line
    assert first.get(key)["id"] == "again"
    first.close()
    second = ResponseCache(str(tmp_path))
    assert second.get(key)["id"] == "again"
    second.put(key, dict(REPLY, id="forced"))           # `run --force`: a newer log
    second.close()
    assert len(list(tmp_path.iterdir())) == 2
    assert ResponseCache(str(tmp_path)).get(key)["id"] == "forced"


def test_unicode_and_lone_surrogates_keep_one_line_per_reply(tmp_path):
    reply = {"choices": [{"message": {"content": "x\n\u00e9\u4e2d \ud800 \U0001f600\r\n"}}]}
    responses = ResponseCache(str(tmp_path))
    key = ResponseCache.key("m", PAYLOAD)
    responses.put(key, reply)
    assert ResponseCache(str(tmp_path)).get(key) == reply
    (log,) = tmp_path.iterdir()
    assert log.read_bytes().count(b"\n") == 1


def test_a_line_cut_short_or_damaged_is_a_miss_and_gets_replaced(tmp_path):
    keys = [ResponseCache.key("m", PAYLOAD, sample=i) for i in range(4)]
    good = f"{keys[0]}\t{json.dumps(REPLY)}\n"
    damaged = [f"{keys[1]}\t[1, 2]\n",                  # JSON, not an object
               f"{keys[2]}\t{{\"choices\": [\n",          # not JSON
               f"{keys[3]}\t{json.dumps(REPLY)}"]          # no newline: the disk was full
    (tmp_path / "replies-00000000000000000001-00000000.log").write_text(good + "".join(damaged))
    responses = ResponseCache(str(tmp_path))
    assert responses.get(keys[0]) == REPLY
    assert [responses.get(k) for k in keys[1:]] == [None, None, None]
    for k in keys[1:]:
        responses.put(k, REPLY)
        assert responses.get(k) == REPLY
    assert [ResponseCache(str(tmp_path)).get(k) for k in keys] == [REPLY] * 4


def test_caches_written_in_the_older_layouts_are_still_read(tmp_path):
    # Until 2026-12-06 a reply lived at ab/<key>.json, before 2026-12-05 at
    # ab/cd/<key>.json: after an upgrade those replies must still answer
    # (re-sending them would cost a hosted API's user).
    keys = [ResponseCache.key("m", PAYLOAD, sample=i) for i in range(3)]
    for path in (tmp_path / keys[0][:2] / f"{keys[0]}.json",
                 tmp_path / keys[1][:2] / keys[1][2:4] / f"{keys[1]}.json"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(REPLY))
    responses = ResponseCache(str(tmp_path))
    assert [responses.get(k) for k in keys] == [REPLY, REPLY, None]
    newer = dict(REPLY, id="newer")
    responses.put(keys[0], newer)       # e.g. `run --force`: the new reply is the one read
    assert responses.get(keys[0]) == newer
    assert ResponseCache(str(tmp_path)).get(keys[0]) == newer


def test_a_cache_with_no_older_entries_is_not_searched_for_them(tmp_path, monkeypatch):
    # On a fresh cache every request is a miss: answered from memory, no file opened.
    read = []
    monkeypatch.setattr(cache, "_read", lambda path: read.append(path))
    (tmp_path / "deployment-0123abcd").mkdir()       # a deployed model's own cache, not an older entry
    responses = ResponseCache(str(tmp_path))
    assert responses.get(ResponseCache.key("m", PAYLOAD)) is None
    assert read == []
    (tmp_path / "ab").mkdir()                           # the older layouts' folders
    assert ResponseCache(str(tmp_path)).get(ResponseCache.key("m", PAYLOAD)) is None
    assert len(read) == 2


def test_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(cache.ENV, raising=False)
    assert cache.from_environment() is None
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    assert cache.from_environment().root == str(tmp_path)


def _writer(root, rounds):
    responses = ResponseCache(root)
    for r in range(rounds):
        for i in range(20):
            key = ResponseCache.key("m", PAYLOAD, sample=i)
            assert responses.get(key) in (None, REPLY)
            responses.put(key, REPLY)


def test_several_processes_share_one_cache(tmp_path):
    # As containers of one output dir do: same keys, written and read at once.
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(tmp_path), 5)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    # Each wrote to a log of its own: no line of one inside another's.
    logs = list(tmp_path.iterdir())
    assert len(logs) == 4
    lines = [line for log in logs for line in log.read_text().splitlines()]
    assert len(lines) == 4 * 5 * 20 and all(json.loads(line.split("\t", 1)[1]) == REPLY for line in lines)
    reader = ResponseCache(str(tmp_path))
    assert all(reader.get(ResponseCache.key("m", PAYLOAD, sample=i)) == REPLY for i in range(20))


def test_a_reply_the_disk_had_no_room_for_leaves_the_next_ones_readable(tmp_path, monkeypatch):
    # A full disk may keep part of a line: the cache starts a new log after it, so
    # the replies stored later are found where the index says.
    responses = ResponseCache(str(tmp_path))
    keys = [ResponseCache.key("m", PAYLOAD, sample=i) for i in range(3)]
    responses.put(keys[0], REPLY)
    real_write = os.write

    def full(fd, data):
        real_write(fd, bytes(data[:10]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.os, "write", full)
    try:
        responses.put(keys[1], REPLY)
    except OSError:
        pass
    else:
        raise AssertionError("the failed write was not reported")
    monkeypatch.setattr(cache.os, "write", real_write)
    responses.put(keys[2], dict(REPLY, id="later"))
    assert responses.get(keys[1]) is None and responses.get(keys[2])["id"] == "later"
    assert len(list(tmp_path.iterdir())) == 2
    again = ResponseCache(str(tmp_path))
    assert [again.get(k) for k in keys] == [REPLY, None, dict(REPLY, id="later")]
