"""A runnable example: one pipeline stage's 1F1B loop marked for Perseus.

Runs without PyTorch (a sleep stands in for the computation) and without an agent (the client warns
once and does nothing). With an agent: export PERSEUS_AGENT_SOCKET, PERSEUS_RANK, PERSEUS_NAMESPACE,
PERSEUS_POD and PERSEUS_TOKEN_PATH as the operator does in worker pods.

    python3 examples/train_pipeline_stage.py --microbatches 4 --iterations 3
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from perseus_client import PerseusClient  # noqa: E402


def one_f_one_b(microbatches, warmup):
    order, f, b = [], 0, 0
    while f < min(warmup, microbatches):
        order.append(("forward", f))
        f += 1
    while b < microbatches:
        if f < microbatches:
            order.append(("forward", f))
            f += 1
        order.append(("backward", b))
        b += 1
    return order


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--microbatches", type=int, default=4)
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1, help="forwards before the first backward (stages - stage - 1)")
    args = p.parse_args()
    client = PerseusClient.from_env()
    print("perseus mode:", client.mode)
    for it in range(args.iterations):
        start = time.monotonic()
        for instruction, mb in one_f_one_b(args.microbatches, args.warmup):
            with client.instruction(instruction, mb):
                time.sleep(0.002 if instruction == "forward" else 0.004)  # model(x) / loss.backward()
        client.step_end(time.monotonic() - start)
        print("iteration %d: %.3f s" % (it, time.monotonic() - start))
    client.close()


if __name__ == "__main__":
    main()
