"""The response cache: keys, sharded atomic files, misses, and several writers at once."""

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


def test_sample_number_tells_repeated_copies_apart():
    assert cache.sample_number({"question": "q"}) == 0
    assert cache.sample_number({"repeat": 3}) == 3          # gpqa's expand
    assert cache.sample_number({"sample": 2}) == 2          # humaneval's expand


def test_put_then_get_in_sharded_folders(tmp_path):
    responses = ResponseCache(str(tmp_path))
    key = ResponseCache.key("m", PAYLOAD)
    assert responses.get(key) is None
    responses.put(key, REPLY)
    assert responses.get(key) == REPLY
    path = tmp_path / key[:2] / f"{key}.json"           # one folder level: 256 folders at most
    assert json.loads(path.read_text()) == REPLY
    assert os.listdir(path.parent) == [path.name]           # no temp file left


def test_a_cache_written_in_the_older_layout_is_still_read(tmp_path):
    # Before 2026-12-05 a reply lived at ab/cd/<key>.json: after an upgrade those
    # replies must still answer (re-sending them would cost a hosted API's user).
    responses = ResponseCache(str(tmp_path))
    key, other = ResponseCache.key("m", PAYLOAD), ResponseCache.key("m", PAYLOAD, sample=1)
    older = tmp_path / key[:2] / key[2:4] / f"{key}.json"
    older.parent.mkdir(parents=True)
    older.write_text(json.dumps(REPLY))
    assert responses.get(key) == REPLY and responses.get(other) is None
    newer = dict(REPLY, id="newer")
    responses.put(key, newer)           # e.g. `run --force`: the new reply is the one read
    assert responses.get(key) == newer


def test_a_cache_with_no_older_entries_is_not_searched_for_them(tmp_path, monkeypatch):
    # One failed open per miss, not two: on a fresh cache every request is a miss.
    read = []
    monkeypatch.setattr(cache, "_read", lambda path: read.append(path))
    responses = ResponseCache(str(tmp_path))
    (tmp_path / "ab").mkdir()                   # a folder of the current layout: files only
    key = ResponseCache.key("m", PAYLOAD)
    assert responses.get(key) is None
    assert read == [responses.path(key)]


def test_unreadable_entries_are_misses_and_get_replaced(tmp_path):
    responses = ResponseCache(str(tmp_path))
    for i, junk in enumerate(["", '{"choices": [', "[1, 2]"]):
        key = ResponseCache.key("m", PAYLOAD, sample=i)
        os.makedirs(os.path.dirname(responses.path(key)), exist_ok=True)
        with open(responses.path(key), "w") as f:
            f.write(junk)
        assert responses.get(key) is None
        responses.put(key, REPLY)
        assert responses.get(key) == REPLY


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
    files = [name for _, _, names in os.walk(tmp_path) for name in names]
    assert len(files) == 20 and not any(name.startswith(".tmp-") for name in files)
