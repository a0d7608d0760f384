"""Perseus training client: tells the node agent when each pipeline computation starts and ends.

Stdlib only. Never raises into the training loop: when the agent is absent or misbehaves, the client
warns once and does nothing.

    client = PerseusClient.from_env()
    for step in range(steps):
        with client.instruction("forward", microbatch):
            ...
        client.step_end()
"""

from .client import PerseusClient, PROTOCOL_VERSION

__all__ = ["PerseusClient", "PROTOCOL_VERSION"]
