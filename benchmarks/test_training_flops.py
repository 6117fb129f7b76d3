"""Target: a SmolLM2 DPO step of the `cpu-dpo` preset runs at ≥ 0.5 of this machine's f32 matmul
rate, both measured in the same run; and its peak memory, reported.

The step is the trainer's own (`train.train_step`: one concatenated forward of y⁺ and y⁻, the DPO
loss against the precomputed reference, backward, clipping, RMSprop; the 2B sequences go in one or
two length buckets, `logprobs.two_buckets`, whichever pads less; the LM head runs at the response
positions only, `logprobs.response_rows`). Its useful work is counted
as 6 · parameters · tokens (forward 2, backward 4 per parameter and token; tokens are the
prompt + response tokens of the 2B sequences, padding not counted); the reference costs no
forward, being precomputed (`--reference precomputed`, the default). The machine's rate is a
2048² f32 `torch.mm`, 2·n³ floating-point operations. Peak memory is the process's peak resident
set during one step (Linux's VmHWM, reset just before it): the model, RMSprop's state, the
gradients and the step's activations. Needs the embedded SmolLM2 and the HH probe
file of ../shared/data (the preset's data); skipped, saying which, without them.
"""

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from common.errors import UserError  # noqa: E402
from llm_validation.config import RunConfig  # noqa: E402
from llm_validation.core.logprobs import two_buckets  # noqa: E402
from llm_validation.presets import HH, PRESETS  # noqa: E402
from llm_validation.sources.hh import resolve  # noqa: E402
from llm_validation.training.methods import plan_of  # noqa: E402
from llm_validation.training.train import (  # noqa: E402
    check_config,
    open_session,
    phase_data,
    phase_reference,
    step_batch,
    train_step,
)

from .tools.timing import paired_ratio, peak_rss, record, require_model  # noqa: E402

TARGET = 0.5
MATMUL_N = 2048


@pytest.fixture(scope="module")
def cpu_dpo_step(quick, tmp_path_factory):
    """(step callable, its batch) of the cpu-dpo preset on the embedded SmolLM2."""
    require_model("smollm2", quick)
    try:
        data = resolve(HH)  # the cache of `data hh-probes`, else ../shared's copy
    except UserError as err:
        pytest.skip(f"the cpu-dpo preset's data: {err}")
    out = tmp_path_factory.mktemp("run")
    cfg = RunConfig(**PRESETS["cpu-dpo"].values())
    cfg = replace(cfg, data=data, out=str(out), checkpoint=False, save_model=False)
    check_config(cfg)
    session = open_session(cfg)
    phase, *_ = plan_of(cfg)
    data = phase_data(session, phase)
    reference = phase_reference(session, 0, phase, data)
    batch, index = step_batch(session, phase, data, 0, cfg.seed, 0)
    return lambda: train_step(session, phase, batch, index, reference, 0), batch, session.model


def test_smollm2_dpo_step_flops_against_the_matmul_rate(benchmark, cpu_dpo_step):
    step, batch, model = cpu_dpo_step
    tokens = sum(len(w.ids) + len(r.ids) for w, r in batch)
    lengths = [len(t.ids) for t in [w for w, _ in batch] + [r for _, r in batch]]
    padded = sum(len(b) * max(lengths[i] for i in b) for b in two_buckets(lengths))
    scored = sum(t.response_len for pair in batch for t in pair)  # where the head runs
    parameters = sum(p.numel() for p in model.parameters())
    a, b = torch.randn(MATMUL_N, MATMUL_N), torch.randn(MATMUL_N, MATMUL_N)
    t_mm, t_step = paired_ratio(
        benchmark,
        step,
        lambda: torch.mm(a, b),
        rounds=5,
    )
    achieved = 6 * parameters * tokens / t_step
    peak = 2 * MATMUL_N**3 / t_mm
    ratio = achieved / peak
    benchmark.extra_info.update(
        {
            "tokens": tokens,
            "padded_tokens": padded,
            "scored_positions": scored,
            "parameters": parameters,
            "step_s": t_step,
            "achieved_gflops": achieved / 1e9,
            "matmul_gflops": peak / 1e9,
            "threads": torch.get_num_threads(),
        }
    )
    record(
        benchmark,
        f"SmolLM2 DPO step (cpu-dpo: batch 4, {tokens} tokens, {padded} padded): achieved "
        f"FLOP/s (6·N·T) vs f32 matmul rate ({peak / 1e9:.0f} GFLOP/s)",
        f"≥ {TARGET}",
        ratio,
        "×",
        ratio >= TARGET,
    )
    assert ratio >= TARGET


def test_smollm2_dpo_step_peak_memory(benchmark, cpu_dpo_step):
    step, batch, _ = cpu_dpo_step
    step()  # optimiser state and gradient buffers exist from here on, as in a run
    peak = benchmark.pedantic(lambda: peak_rss(step), rounds=1, iterations=1)
    tokens = sum(len(w.ids) + len(r.ids) for w, r in batch)
    record(
        benchmark,
        f"SmolLM2 DPO step (cpu-dpo: batch 4, {tokens} tokens): peak resident memory of the "
        "process during one step (model, RMSprop state, gradients, activations)",
        "(reported)",
        peak / 2**30,
        "GiB",
        True,
    )
