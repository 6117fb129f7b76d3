"""The GPU's fast paths (fused / foreach optimisers, a compiled body) leave the CPU path as it
was, and on a CUDA card give the CPU path's numbers."""

import copy
import ctypes
import platform

import pytest
import torch

from llm_validation.core.directions import OPTIMISERS, make_optimizer
from llm_validation.core.logprobs import collate, sequence_logps, tokenize_example
from llm_validation.training.runtime import (
    compile_body,
    keep_freed_blocks,
    pick_compile,
    slow_bf16,
)


def _loss(model, tokenizer, examples):
    items = []
    for ex in examples:
        items += tokenize_example(tokenizer, ex.prompt, ex.responses).values()
    batch = (t.to(next(model.parameters()).device) for t in collate(items, 0))
    return sequence_logps(model, *batch).sum()


def _one_step(model, tokenizer, examples, optimizer):
    optimizer.zero_grad()
    _loss(model, tokenizer, examples).backward()
    optimizer.step()
    return [p.detach().cpu() for p in model.parameters()]


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_cpu_optimiser_is_torchs_per_tensor_loop_unchanged(name, tiny, synthetic_examples):
    """On CPU `make_optimizer` asks for neither fused nor foreach kernels, and a step moves θ
    bit for bit as torch's optimiser built with the table's hyper-parameters alone."""
    model, tokenizer = tiny
    twin = copy.deepcopy(model)
    ours = make_optimizer(name, list(model.parameters()), 1e-3)
    assert not ours.param_groups[0].get("fused") and not ours.param_groups[0].get("foreach")
    plain = OPTIMISERS[name].torch_class(twin.parameters(), lr=1e-3, **OPTIMISERS[name].defaults)
    for a, b in zip(
        _one_step(model, tokenizer, synthetic_examples, ours),
        _one_step(twin, tokenizer, synthetic_examples, plain),
        strict=True,
    ):
        assert torch.equal(a, b)


def test_compile_is_off_on_cpu_unless_asked_for():
    """`--compile auto` compiles only on a CUDA card; on and off are taken literally."""
    cpu = torch.device("cpu")
    assert pick_compile("auto", cpu) is False
    assert pick_compile("off", torch.device("cuda")) is False
    assert pick_compile("on", cpu) is True


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def mapped_bytes() -> int:
    """glibc's `hblkhd`: the bytes it holds in blocks mapped on their own (mmap), not on its heap."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2().hblkhd


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_a_cpu_run_keeps_large_blocks_on_the_heap_instead_of_mapping_each_afresh():
    assert keep_freed_blocks(torch.device("cuda")) is False  # a GPU run's host memory is left alone
    assert keep_freed_blocks(torch.device("cpu")) is True
    before = mapped_bytes()
    block = torch.ones(2**24)  # 64 MB: above glibc's largest mmap threshold (32 MB)
    assert mapped_bytes() == before
    del block


def test_bf16_on_a_cpu_that_emulates_it_is_named_in_one_line():
    cpu, bf16 = torch.device("cpu"), torch.bfloat16
    note = slow_bf16(bf16, cpu, native=False)
    assert "--precision fp32" in note and "\n" not in note
    assert slow_bf16(bf16, cpu, native=True) is None
    assert slow_bf16(torch.float32, cpu, native=False) is None
    assert slow_bf16(bf16, torch.device("cuda"), native=False) is None


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_cuda_optimisers_are_fused_and_step_as_the_cpu_loop(name, tiny, synthetic_examples):
    """On CUDA the table's fused (sgd, adamw) or foreach (rmsprop) kernels move θ as the CPU
    per-tensor loop does, within fp32 round-off."""
    model, tokenizer = tiny
    cuda = copy.deepcopy(model).cuda()
    opt = make_optimizer(name, list(cuda.parameters()), 1e-3)
    assert opt.param_groups[0] | OPTIMISERS[name].cuda == opt.param_groups[0]
    moved = _one_step(cuda, tokenizer, synthetic_examples, opt)
    ref = _one_step(
        model, tokenizer, synthetic_examples, make_optimizer(name, list(model.parameters()), 1e-3)
    )
    for a, b in zip(moved, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # a cuda vs cpu forward/backward


@pytest.mark.gpu
def test_a_compiled_body_gives_the_eager_logprobs(tiny, synthetic_examples):
    """`compile_body` (what `--compile` turns on) leaves log π(y|x) as the eager model's, and a
    deep copy (a frozen reference) still runs its own weights."""
    model, tokenizer = tiny
    model = model.cuda()
    eager = _loss(model, tokenizer, synthetic_examples).detach()
    compile_body(model)
    compiled = _loss(model, tokenizer, synthetic_examples).detach()
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-4)  # fused kernels' round-off
    frozen = copy.deepcopy(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)
    frozen_logp = _loss(frozen, tokenizer, synthetic_examples).detach()
    torch.testing.assert_close(frozen_logp, eager, rtol=1e-5, atol=1e-4)
