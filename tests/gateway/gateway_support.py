"""Shared set-up of the gateway tests (holds no tests): two fake upstreams and a gateway on loopback."""

from __future__ import annotations

from dataclasses import dataclass

from api_support import KEY_A, KEY_B, KEY_RO, ThreadedServer, make_settings

from api.app import create_app
from api.gateway.config import GatewayConfig
from api.gateway.fake_upstream import Behaviour, Record, fake_upstream

__all__ = ["KEY_A", "KEY_B", "KEY_RO"]  # re-exported for the tests

MODEL = "fake-model"
UPSTREAM_KEY = "sk-upstream-secret-0123456789"
KEY_ENV = "VERACITY_TEST_PRIMARY_KEY"

# The sample corpus's Northwind MSA: invoices within thirty (30) days (true), ninety (90) days' notice.
SUPPORTED = "Customer shall pay each undisputed invoice within thirty (30) days of receipt."
CONTRADICTED = (
    "Customer may terminate the Agreement for convenience upon sixty (60) days' prior written notice."
)


@dataclass
class Upstream:
    server: ThreadedServer
    behaviour: Behaviour
    record: Record

    def reset(self, reply: str, tokens_per_s: float = 0.0) -> None:
        self.behaviour.__dict__.update(Behaviour(reply=reply, tokens_per_s=tokens_per_s).__dict__)
        self.record.__dict__.update(Record().__dict__)


def start_upstream(name: str) -> Upstream:
    app, behaviour, record = fake_upstream(name, MODEL)
    server = ThreadedServer(app).__enter__()
    return Upstream(server, behaviour, record)


def gateway_config(primary: Upstream, secondary: Upstream, **overrides) -> GatewayConfig:
    values = dict(
        upstreams=[
            dict(
                name="primary",
                base_url=f"{primary.server.url}/v1",
                api_key_env=KEY_ENV,
                models=[MODEL],
                read_timeout_s=1.5,
            ),
            dict(name="secondary", base_url=f"{secondary.server.url}/v1", models=["*"], read_timeout_s=5),
        ],
        failure_threshold=2,
        cooldown_s=1.0,
        keys={"reader": {"corpus": "sample"}, "tenant-a": {"store": True}},  # tenant-a's traffic is stored
    )
    values.update(overrides)
    return GatewayConfig(**values)


def start_gateway(home, config: GatewayConfig) -> ThreadedServer:
    return ThreadedServer(create_app(make_settings(home), gateway=config)).__enter__()
