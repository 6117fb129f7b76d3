"""Target: `run --track-kernel`'s evaluation costs a few forward+backward passes per tracked probe.

At an evaluation the tracker takes one forward+backward per tracked probe and two per tracked
update (y⁺ and y⁻), then dot products over θ and the head's closed form. With K updates and P
probes that is (P + 2K) passes; the row reports its time per tracked probe against one plain
forward+backward of the same probes (target ≤ 3×).
"""

import pytest

torch = pytest.importorskip("torch")

from llm_validation.core.first_order import forward_backward_seconds  # noqa: E402
from llm_validation.core.logprobs import PAPER_TRUNCATION  # noqa: E402
from llm_validation.sources.data import load_examples  # noqa: E402
from llm_validation.sources.models import load_model  # noqa: E402
from llm_validation.training.kernel_tracking import KernelTracker  # noqa: E402

from .tools.timing import paired_ratio, record  # noqa: E402

TRACKING_COST_TARGET = 3.0


def test_kernel_tracking_cost_per_probe_against_forward_backward(benchmark, quick, tmp_path):
    model, tokenizer = load_model("tiny-neox")
    examples, _ = load_examples("synthetic", limit=2)
    tracker = KernelTracker(tokenizer, examples, PAPER_TRUNCATION, "dpo", {}, tmp_path, (), 0)
    probes = [item for _, _, item in tracker.probes]
    t_fb, t_track = paired_ratio(
        benchmark,
        lambda: tracker.influence(model),
        lambda: forward_backward_seconds(model, probes, tokenizer.eos_token_id),
        rounds=3 if quick else 7,
    )
    ratio = t_track / t_fb  # both over the same P probes: the cost per tracked probe
    record(
        benchmark,
        f"kernel tracking per evaluation, per tracked probe vs one forward+backward "
        f"(tiny-neox, K = 2, P = {len(probes)})",
        f"≤ {TRACKING_COST_TARGET}×",
        ratio,
        "×",
        ratio <= TRACKING_COST_TARGET,
    )
    assert ratio <= TRACKING_COST_TARGET
