"""The Kubernetes worker manifests keep terminationGracePeriodSeconds in step with
the worker's own shutdown grace: Kubernetes must not SIGKILL a worker that is
still inside its grace or handing its run back."""

from __future__ import annotations

from pathlib import Path

import yaml

from service.settings import Settings

WORKERS = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "workers.yaml"
HAND_BACK_MARGIN_S = 10


def test_termination_grace_is_the_worker_grace_plus_the_hand_back_margin() -> None:
    deployments = [d for d in yaml.safe_load_all(WORKERS.read_text()) if d]
    assert deployments
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        grace = float(env.get("LOOPY_WORKER_SHUTDOWN_GRACE_S", Settings().worker_shutdown_grace_s))
        assert pod["terminationGracePeriodSeconds"] == grace + HAND_BACK_MARGIN_S, deployment[
            "metadata"
        ]["name"]
