"""Dataset downloads into the cache, from a real HTTP server on 127.0.0.1."""

import hashlib
import io
import re
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evaltasks.data import datasets
from evaltasks.harness.benchmarks import Benchmark, DataFile


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/www on 127.0.0.1; yields (folder, base url)."""
    www = tmp_path / "www"
    www.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.delenv("EVALTASKS_DATA_DIR", raising=False)
    monkeypatch.setenv("EVALTASKS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "datasets"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def bench(*files):
    return Benchmark(name="toy", module="toy", description="", size=1, files=files)


def test_plain_file_and_zip_members_are_fetched_once_and_checked(server, cache):
    www, url = server
    (www / "data.jsonl").write_bytes(b'{"a": 1}\n')
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("inner/test.json", "[1, 2]")
        z.writestr("inner/val.json", "[3]")
    (www / "both.zip").write_bytes(archive.getvalue())
    toy = bench(DataFile("data.jsonl", f"{url}/data.jsonl", sha(b'{"a": 1}\n')),
                DataFile("test.json", f"{url}/both.zip", sha(b"[1, 2]"), member="inner/test.json"),
                DataFile("val.json", f"{url}/both.zip", sha(b"[3]"), member="inner/val.json"))
    fetched = []
    folder = datasets.ensure(toy, log=fetched.append)
    assert folder == cache / "toy"
    assert (folder / "test.json").read_text() == "[1, 2]" and (folder / "val.json").read_text() == "[3]"
    assert fetched == [f"downloading {url}/data.jsonl", f"downloading {url}/both.zip"]
    assert sorted(p.name for p in folder.iterdir()) == ["data.jsonl", "test.json", "val.json"]
    fetched.clear()
    datasets.ensure(toy, log=fetched.append)
    assert fetched == []                                    # cached: nothing downloaded again


def test_checksum_mismatch_leaves_nothing(server, cache):
    www, url = server
    (www / "data.jsonl").write_bytes(b"tampered\n")
    toy = bench(DataFile("data.jsonl", f"{url}/data.jsonl", sha(b"original\n")))
    with pytest.raises(datasets.DownloadError, match="sha256 .* is not the expected"):
        datasets.ensure(toy, log=lambda m: None)
    assert list((cache / "toy").iterdir()) == []


def test_missing_file_and_gated_hint(server, cache):
    _, url = server
    toy = bench(DataFile("gated.csv", f"{url}/gated.csv", gated="accept the terms, then set HF_TOKEN"))
    with pytest.raises(datasets.DownloadError, match=r"HTTP 404; accept the terms, then set HF_TOKEN"):
        datasets.ensure(toy, log=lambda m: None)


def test_local_data_dir_must_hold_every_file(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALTASKS_DATA_DIR", str(tmp_path))
    toy = bench(DataFile("data.jsonl", "http://127.0.0.1:9/unused"))
    assert re.fullmatch(r"EVALTASKS_DATA_DIR: toy needs .*/toy/data.jsonl, which does not exist",
                        datasets.missing(toy))
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "data.jsonl").write_text("{}\n")
    assert datasets.missing(toy) is None
    assert datasets.ensure(toy) == tmp_path / "toy"


def test_a_hub_copy_is_fetched_with_a_token_and_stands_in_for_the_file(server, cache, tmp_path, monkeypatch):
    """gpqa's way: the public archive by default; with a Hugging Face token the
    gated copy instead; either one, when it is there, is the benchmark's data."""
    www, url = server
    (www / "data.zip").write_bytes(b"archive")
    (www / "rows.csv").write_bytes(b"q,a\n")
    hub = DataFile("rows.csv", f"{url}/rows.csv", sha(b"q,a\n"), gated="set HF_TOKEN")
    toy = bench(DataFile("data.zip", f"{url}/data.zip", sha(b"archive"), hub=hub))
    fetched = []
    folder = datasets.ensure(toy, log=fetched.append)
    assert fetched == [f"downloading {url}/data.zip"] and sorted(p.name for p in folder.iterdir()) == ["data.zip"]
    assert datasets.sources(toy) == {"data.zip": f"{url}/data.zip"}

    (folder / "data.zip").unlink()
    fetched.clear()
    datasets.ensure(toy, log=fetched.append, hf_token="hf_x")
    assert fetched == [f"downloading {url}/rows.csv"] and sorted(p.name for p in folder.iterdir()) == ["rows.csv"]
    assert datasets.identity(toy) == {"rows.csv": sha(b"q,a\n")}
    assert datasets.sources(toy) == {"rows.csv": f"{url}/rows.csv"}
    datasets.ensure(toy, log=fetched.append)                # either copy will do: nothing fetched
    assert fetched == [f"downloading {url}/rows.csv"]

    monkeypatch.setenv("EVALTASKS_DATA_DIR", str(tmp_path / "local"))
    (tmp_path / "local" / "toy").mkdir(parents=True)
    assert datasets.missing(toy).endswith("/toy/data.zip (or rows.csv), which does not exist")
    (tmp_path / "local" / "toy" / "rows.csv").write_text("q,a\n")
    assert datasets.missing(toy) is None
