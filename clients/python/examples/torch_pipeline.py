"""One stage of a small GPT trained with 4-stage pipeline parallelism (torch.distributed, gloo, 1F1B),
every forward and backward marked for the Perseus node agent. Start one process per stage (RANK 0..3);
test/agent/torch-pipeline.ts starts them against a node agent and drives profiling, planning and replanning.

    MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 WORLD_SIZE=4 RANK=<stage> python3 torch_pipeline.py --iterations 20

CPU cores do not change speed with a GPU clock, so with PERSEUS_EMULATED_GPU set the stage also plays its
GPU: each computation runs for real, then lasts as long as it would at the SM clock the agent locked
(compute-bound share slowed by f_max/f), and its energy (power falling with the clock) goes into the
emulated GPU's energy counter, which the agent reads as it would read NVML's.
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from perseus_client import PerseusClient  # noqa: E402

TEXT = (
    "Pipeline parallelism cuts a model into stages, one per GPU, and pushes micro-batches through them. "
    "Computations off the critical path can run at a lower clock without slowing the iteration down. "
)


class EmulatedGpu:
    """The stage's GPU as the agent sees it: the agent writes the locked clock, this process the energy.

    Files (shared with test/agent/torch-pipeline-gpu.ts): ``<prefix>.clock`` holds the locked SM clock
    (int32 MHz, 0 = unlocked); ``<prefix>.energy`` holds (energy J, CLOCK_MONOTONIC s, power W since then,
    throttled 0/1, checksum) as little-endian doubles.
    """

    RECORD = struct.Struct("<5d")

    def __init__(self, prefix, max_mhz, busy_watts, static_watts, idle_watts, compute_share):
        self.max_mhz = float(max_mhz)
        self.busy_watts = busy_watts
        self.static_watts = static_watts
        self.idle_watts = idle_watts
        self.compute_share = compute_share
        self.clock_fd = os.open(prefix + ".clock", os.O_RDONLY)
        self.energy_fd = os.open(prefix + ".energy", os.O_RDWR)
        energy, since, power, _throttled, _check = self.RECORD.unpack(os.pread(self.energy_fd, self.RECORD.size, 0))
        self.energy_j, self.since_s, self.power_w = energy, since, power
        self.throttled = 0.0

    def clock_mhz(self):
        mhz = struct.unpack("<i", os.pread(self.clock_fd, 4, 0))[0]
        return float(mhz) if mhz > 0 else self.max_mhz

    def slowdown(self, mhz):
        return self.compute_share * self.max_mhz / mhz + (1.0 - self.compute_share)

    def power_watts(self, mhz):
        # Dynamic power ~ f·V², V roughly proportional to f in the DVFS range.
        return self.static_watts + (self.busy_watts - self.static_watts) * (mhz / self.max_mhz) ** 3

    def _write(self, now, power_w):
        self.energy_j += self.power_w * (now - self.since_s)
        self.since_s, self.power_w = now, power_w
        values = (self.energy_j, self.since_s, self.power_w, self.throttled)
        os.pwrite(self.energy_fd, self.RECORD.pack(*values, sum(values)), 0)

    def start(self, now):
        """A computation starts: the idle stretch is charged; until its end the current clock's power."""
        self._write(now, self.power_watts(self.clock_mhz()))

    def finish(self, started, extra_factor):
        """The real computation returned: stretch it to its length at the locked clock, charge its energy.
        Returns the clock it ran at (MHz)."""
        mhz = self.clock_mhz()
        real = time.monotonic() - started
        target = real * self.slowdown(mhz) * extra_factor
        remaining = started + target - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        now = time.monotonic()
        self.power_w = self.power_watts(mhz)
        self._write(now, self.idle_watts)
        return int(mhz)

    def set_throttled(self, on):
        self.throttled = 1.0 if on else 0.0
        self._write(time.monotonic(), self.power_w)


class Block(nn.Module):
    def __init__(self, d_model, heads, seq):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.register_buffer("mask", torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=1))

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=self.mask, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class Stage(nn.Module):
    """Stage 0 embeds tokens; the last stage projects to the vocabulary; every stage holds `blocks` blocks."""

    def __init__(self, stage, stages, blocks, d_model, heads, seq, vocab):
        super().__init__()
        self.first, self.last = stage == 0, stage == stages - 1
        if self.first:
            self.embed = nn.Embedding(vocab, d_model)
            self.pos = nn.Parameter(torch.zeros(seq, d_model))
        self.blocks = nn.Sequential(*[Block(d_model, heads, seq) for _ in range(blocks)])
        if self.last:
            self.norm = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab)

    def forward(self, x):
        if self.first:
            x = self.embed(x) + self.pos
        x = self.blocks(x)
        return self.head(self.norm(x)) if self.last else x


def one_f_one_b(stage, stages, microbatches):
    """The 1F1B order of one stage: warm-up forwards, one-forward-one-backward, cool-down backwards."""
    warmup = min(stages - stage - 1, microbatches)
    order = [("forward", i) for i in range(warmup)]
    f, b = warmup, 0
    while b < microbatches:
        if f < microbatches:
            order.append(("forward", f))
            f += 1
        order.append(("backward", b))
        b += 1
    return order


def batches(seq, microbatch_size, microbatches, generator):
    data = torch.tensor(list(TEXT.encode()), dtype=torch.long)
    for _ in range(microbatches):
        starts = torch.randint(0, len(data) - seq - 1, (microbatch_size,), generator=generator)
        x = torch.stack([data[s : s + seq] for s in starts])
        y = torch.stack([data[s + 1 : s + seq + 1] for s in starts])
        yield x, y


def parse_straggler(text):
    if not text:
        return None
    fields = dict(part.split("=", 1) for part in text.split(","))
    try:
        return {"stage": int(fields["stage"]), "factor": float(fields["factor"]), "at": int(fields["at"]), "until": int(fields["until"])}
    except (KeyError, ValueError):
        raise SystemExit("--straggler: expected stage=S,factor=F,at=I,until=J, got %r" % text)


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--microbatches", type=int, default=4)
    p.add_argument("--microbatch-size", type=int, default=8)
    p.add_argument("--seq", type=int, default=32)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--blocks-per-stage", type=int, default=1)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--straggler", default="", help="stage=S,factor=F,at=I,until=J: stage S's computations last F× longer in iterations I..J-1")
    p.add_argument("--emulated-gpu", default=os.environ.get("PERSEUS_EMULATED_GPU", ""), help="file prefix of this stage's emulated GPU")
    p.add_argument("--gpu-max-mhz", type=float, default=1410)
    args = p.parse_args()
    straggler = parse_straggler(args.straggler)

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    stage, stages = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(1234 + stage)
    vocab = 256
    model = Stage(stage, stages, args.blocks_per_stage, args.d_model, args.heads, args.seq, vocab)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    data_rng = torch.Generator().manual_seed(7)  # the same batches on the first and the last stage
    gpu = EmulatedGpu(args.emulated_gpu, args.gpu_max_mhz, 300.0, 90.0, 80.0, 0.8) if args.emulated_gpu else None
    client = PerseusClient.from_env()
    emit("start", stage=stage, mode=client.mode, params=sum(t.numel() for t in model.parameters()))
    hidden_shape = (args.microbatch_size, args.seq, args.d_model)
    order = one_f_one_b(stage, stages, args.microbatches)
    overhead_ns = []  # client time of each begin/end pair

    for iteration in range(args.iterations):
        started = time.monotonic()
        slow = straggler is not None and straggler["stage"] == stage and straggler["at"] <= iteration < straggler["until"]
        factor = straggler["factor"] if slow else 1.0
        if gpu is not None and slow != (gpu.throttled > 0):
            gpu.set_throttled(slow)
        micro = list(batches(args.seq, args.microbatch_size, args.microbatches, data_rng))
        inputs, outputs, pending, losses, clocks = {}, {}, [], [], []
        optimizer.zero_grad(set_to_none=True)
        for instruction, mb in order:
            if instruction == "forward":
                if stage == 0:
                    x = micro[mb][0]
                else:
                    x = torch.empty(hidden_shape)
                    dist.recv(x, src=stage - 1)
                    x.requires_grad_()
            else:
                grad = None
                if stage < stages - 1:
                    grad = torch.empty(hidden_shape)
                    dist.recv(grad, src=stage + 1)
            t0 = time.perf_counter_ns()
            client.begin(instruction, mb)
            pair_ns = time.perf_counter_ns() - t0
            begun = time.monotonic()
            if gpu is not None:
                gpu.start(begun)
            if instruction == "forward":
                out = model(x)
                if stage == stages - 1:
                    out = F.cross_entropy(out.reshape(-1, vocab), micro[mb][1].reshape(-1)) / args.microbatches
                    losses.append(out.item() * args.microbatches)
                inputs[mb], outputs[mb] = x, out
            else:
                out = outputs.pop(mb)
                if grad is None:
                    out.backward()
                else:
                    out.backward(grad)
                x = inputs.pop(mb)
            if gpu is not None:
                clocks.append(gpu.finish(begun, factor))
            elif factor > 1:
                time.sleep((time.monotonic() - begun) * (factor - 1))
            t0 = time.perf_counter_ns()
            client.end()
            overhead_ns.append(pair_ns + time.perf_counter_ns() - t0)
            # Sends are asynchronous so that a stage never blocks on a peer that is itself sending.
            if instruction == "forward" and stage < stages - 1:
                pending.append(dist.isend(out.detach(), dst=stage + 1))
            elif instruction == "backward" and stage > 0:
                pending.append(dist.isend(x.grad, dst=stage - 1))
        for work in pending:
            work.wait()
        optimizer.step()
        client.step_end()
        fields = {"stage": stage, "iteration": iteration, "seconds": round(time.monotonic() - started, 6)}
        if losses:
            fields["loss"] = round(sum(losses) / len(losses), 5)
        if clocks:
            fields["clocks"] = clocks
        emit("iteration", **fields)

    overhead_ns.sort()
    pairs = len(overhead_ns)
    emit(
        "done",
        stage=stage,
        iterations=args.iterations,
        pairs=pairs,
        overheadUs=round(sum(overhead_ns) / max(pairs, 1) / 1000, 3),
        overheadMedianUs=round(overhead_ns[pairs // 2] / 1000, 3) if pairs else None,
        connected=client.enabled,
        reconnects=client.reconnects,
    )
    client.close()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
