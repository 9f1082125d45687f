"""``evaltasks run --force`` measures the endpoint again, though the response
cache holds replies for every request (issue 8, item 7): a model redeployed
under the same name is measured anew."""

import pytest

from conftest import Gsm8kModel, answered, evaltasks_cli, results, write_config
from support.endpoint import FakeEndpoint

pytestmark = pytest.mark.docker
N = 12


def test_force_asks_the_endpoint_again_and_refreshes_the_cache(tmp_path, docker_client):
    out = tmp_path / "results"
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": N}}]
    with FakeEndpoint(Gsm8kModel(right=range(N))) as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, tasks=tasks)
        run = ["run", "--config", str(cfg), "--skip-preflight"]
        first = evaltasks_cli(*run)
        assert first.returncode == 0, first.stdout + first.stderr
        assert results(out)["metrics"]["accuracy"]["value"] == 1.0 and len(answered(ep)) == N

        ep.responder = Gsm8kModel(right=[])          # redeployed: same name, same URL, new answers
        assert evaltasks_cli(*run).returncode == 0    # up to date: nothing sent
        assert len(answered(ep)) == N

        forced = evaltasks_cli(*run, "--force")
        assert forced.returncode == 0, forced.stdout + forced.stderr
        assert len(answered(ep)) == 2 * N             # every request sent again
        r = results(out)
        assert r["metrics"]["accuracy"]["value"] == 0.0
        assert (r["response_stats"]["requests"], r["response_stats"]["cache_hits"]) == (N, 0)

        # The new replies replaced the cached ones: a plain rerun answers from them.
        (out / "gsm8k" / "results.json").unlink()
        again = evaltasks_cli(*run)
        assert again.returncode == 0, again.stdout + again.stderr
        assert len(answered(ep)) == 2 * N
        r = results(out)
        assert r["metrics"]["accuracy"]["value"] == 0.0 and r["response_stats"]["cache_hits"] == N
