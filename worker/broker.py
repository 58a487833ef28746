"""The Dramatiq broker: Redis in every process, a StubBroker when CRM_BROKER=stub (unit tests)."""

import os

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

REDIS_NAMESPACE = "dramatiq"


def _build_broker() -> dramatiq.Broker:
    if os.environ.get("CRM_BROKER") == "stub":
        return StubBroker()
    # Timeouts, so a Redis that stops answering fails a send (the web side logs a lost nudge)
    # instead of holding the request forever; no command of the broker blocks on the server.
    client = redis.Redis.from_url(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        socket_connect_timeout=2,
        socket_timeout=10,
    )
    return RedisBroker(client=client, namespace=REDIS_NAMESPACE)


broker = _build_broker()
dramatiq.set_broker(broker)


def queue_depths() -> dict[str, dict[str, int]]:
    """Messages waiting, delayed and dead per declared queue."""
    depths = {}
    queue_names = sorted(
        name for name in broker.get_declared_queues() if not name.endswith((".DQ", ".XQ"))
    )
    if isinstance(broker, StubBroker):
        for name in queue_names:
            depths[name] = {
                "ready": broker.queues[name].qsize(),
                "delayed": broker.queues[f"{name}.DQ"].qsize()
                if f"{name}.DQ" in broker.queues
                else 0,
                "dead": len(broker.dead_letters_by_queue.get(name, [])),
            }
        return depths
    pipe = broker.client.pipeline()
    for name in queue_names:
        pipe.llen(f"{REDIS_NAMESPACE}:{name}")
        pipe.llen(f"{REDIS_NAMESPACE}:{name}.DQ")
        pipe.zcard(f"{REDIS_NAMESPACE}:{name}.XQ")
    counts = pipe.execute()
    for index, name in enumerate(queue_names):
        ready, delayed, dead = counts[index * 3 : index * 3 + 3]
        depths[name] = {"ready": ready, "delayed": delayed, "dead": dead}
    return depths
