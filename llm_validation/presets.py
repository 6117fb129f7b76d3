"""Named run settings: the paper's own, and compressions of them that fit 2 CPU cores.

`python -m llm_validation run --preset NAME [flags]` starts from the preset's settings; any flag
given on the command line overrides it. `python -m llm_validation presets` lists them. Every value
a preset sets carries the paper's setting beside it (Ren & Sutherland's runs, from the official
logs: RMSprop, lr 5e-7, 150 warmup steps, clipping at 10, batch 4, truncation 512 / 256 with the
prompt kept from its end, probes = 500 of the training prompts with all 13 response types, an
evaluation every 100 training pairs, 5,000 HH pairs).

SmolLM2-135M-Instruct, the embedded model of the `cpu-*` presets, is already instruction- and
preference-tuned: its start is the paper's "after SFT" state rather than a base model, so SFT
sharpens an already peaky π and DPO starts with y⁻ in a valley. The `paper-*` presets expect a
base model (`--model PATH`, a local checkpoint); the paper runs SFT before DPO on a base model,
which `paper-sft-dpo` does in one run (the extension's baseline, with `paper-extend-dpo`'s step
counts) and `paper-dpo` does as `dpo` from an SFT'd checkpoint. Every preset saves the final policy
(`save_model`) for `generate` and `winrate`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """settings: {RunConfig field: (value, the paper's setting or why it is compressed)}."""

    name: str
    summary: str
    settings: dict[str, tuple[object, str]]

    def values(self) -> dict[str, object]:
        return {k: v for k, (v, _) in self.settings.items()}


PAPER = {
    "optimizer": ("rmsprop", "paper: RMSprop"),
    "warmup_steps": (150, "paper: 150 warmup steps"),
    "max_grad_norm": (10.0, "paper: clipping at 10"),
    "batch_size": (4, "paper: batch 4"),
    "max_length": (512, "paper: 512"),
    "max_prompt_length": (256, "paper: 256"),
    "truncation_mode": ("keep_end", "paper: prompt kept from its end"),
    "limit": (5000, "paper: 5,000 HH pairs"),
    "probe_limit": (500, "paper: 500 of the training prompts as probes"),
    "eval_every": (25, "paper: an evaluation every 100 pairs = 25 steps of 4"),
    "save_model": (True, "the final policy as <run>/model, for `generate` and `winrate`"),
}
HH = "hh-train"  # `python -m llm_validation data hh-probes` fetches it (`sources.hh`)
CPU = {
    "model": ("smollm2", "paper: Pythia-410M / Qwen1.5-0.5B; here the embedded 135M model"),
    "data": (
        HH,
        "paper: Anthropic-HH; the paper's 500 HH probe examples (`data hh-probes` fetches "
        "them), whose prompts are both trained on and probed, as in the paper",
    ),
    "optimizer": ("rmsprop", "paper: RMSprop"),
    "warmup_steps": (0, "paper: 150; a run of tens of steps has no room for it"),
    "max_grad_norm": (10.0, "paper: clipping at 10"),
    "batch_size": (4, "paper: batch 4"),
    "max_length": (192, "paper: 512; ~3× cheaper forwards on CPU"),
    "max_prompt_length": (64, "paper: 256"),
    "truncation_mode": ("keep_end", "paper: prompt kept from its end"),
    "limit": (16, "paper: 5,000 pairs; 16 trained for many epochs instead"),
    "eval_every": (
        4,
        "paper: every 25 steps; early and often, SFT's rise of irr_train is an early "
        "window on SmolLM2",
    ),
    "checkpoint": (True, "--resume after an interruption"),
    "save_model": (True, "the final policy as <run>/model, for `generate` and `winrate`"),
}

GPU = {
    **PAPER,
    "model": ("smollm2", "paper: Pythia-410M / Qwen1.5-0.5B; here the embedded 135M model"),
    "data": (HH, CPU["data"][1]),
    "limit": (5000, "paper: 5,000 HH pairs; ../shared holds 499 valid ones, all used"),
    "probe_limit": (64, "paper: 500; the reference run's 64 (../shared/reference/h200-smollm2)"),
    "eval_every": (
        100,
        "paper: every 25 steps; the reference run's 100, 1 % of a 5-minute run each",
    ),
    "checkpoint": (
        False,
        "a run of ≤ 5 minutes: rerunning costs less than a 1 GB save per evaluation",
    ),
}
LR_GPU = (
    "paper: 5e-7; the reference run's 5e-6, whose y⁺ peaks at step 500 and falls after, still "
    "+3.1 above its start at step 1,200 (at 5e-7, 1,200 steps are still the early phase)"
)
CPU_REWARD = (
    "paper: samples ranked by a reward; offline here, the sample whose words overlap the "
    "example's y⁺ more than its y⁻ wins (no reward model is embedded)"
)


def _preset(name, summary, base, **specific):
    return Preset(name, summary, {**base, **specific})


PRESETS = {
    p.name: p
    for p in (
        _preset(
            "paper-sft",
            "the paper's SFT on y⁺ (8 epochs); needs --model PATH and --data",
            PAPER,
            method=("sft", "paper: SFT on the chosen responses"),
            lr=(5e-7, "paper: 5e-7"),
            steps=(10_000, "paper: 8 epochs of 5,000 pairs at batch 4"),
        ),
        _preset(
            "paper-dpo",
            "the paper's off-policy DPO (~2.7 epochs); --model PATH, --data",
            PAPER,
            method=("dpo", "paper: DPO from the SFT checkpoint (give it as --model)"),
            lr=(5e-7, "paper: 5e-7"),
            beta=(0.1, "paper: β = 0.1"),
            steps=(3_400, "paper: ≈ 2.7 epochs of 5,000 pairs at batch 4"),
        ),
        _preset(
            "paper-extend-dpo",
            "the paper's extension: SFT on y⁺ and y⁻, then DPO",
            PAPER,
            method=("extend-dpo", "paper: SFT on both responses, then DPO"),
            lr=(5e-7, "paper: 5e-7"),
            beta=(0.1, "paper: β = 0.1"),
            sft_steps=(5_000, "paper: 2 epochs of the 10,000 responses at batch 4"),
            steps=(3_400, "paper: ≈ 2.7 epochs of DPO"),
        ),
        _preset(
            "paper-sft-dpo",
            "the extension's baseline: SFT on y⁺, then DPO (same steps)",
            PAPER,
            method=("sft-dpo", "paper: SFT on the chosen responses, then DPO"),
            lr=(5e-7, "paper: 5e-7"),
            beta=(0.1, "paper: β = 0.1"),
            sft_steps=(5_000, "as paper-extend-dpo: the same examples seen in each stage"),
            steps=(3_400, "paper: ≈ 2.7 epochs of DPO"),
        ),
        _preset(
            "cpu-sft",
            "SFT on SmolLM2, 16 HH examples, 24 steps (6 epochs)",
            CPU,
            method=("sft", "paper: SFT on the chosen responses"),
            lr=(5e-6, "paper: 5e-7; 10× for a run of 24 steps"),
            steps=(24, "paper: 8 epochs; here 6 epochs of 16 examples"),
        ),
        _preset(
            "cpu-dpo",
            "off-policy DPO on SmolLM2, 16 HH pairs, 40 steps (10 epochs)",
            CPU,
            method=("dpo", "paper: off-policy DPO"),
            lr=(5e-6, "paper: 5e-7; 10× for a run of 40 steps"),
            beta=(0.1, "paper: β = 0.1"),
            steps=(40, "paper: ≈ 2.7 epochs of 5,000 pairs; here 10 epochs of 16"),
        ),
        _preset(
            "cpu-squeeze",
            "off-policy DPO on SmolLM2 into the squeeze: 499 HH pairs, lr 5e-5, batch 8, 650 steps",
            CPU,
            method=("dpo", "paper: off-policy DPO"),
            limit=(
                499,
                "paper: 5,000 pairs; all 499 valid ones of ../shared, as the reference GPU run: "
                "with 16–160, each probe's own pair keeps lifting y⁺ (docs/findings.md grid)",
            ),
            probe_limit=(
                128,
                "paper: 500 of the training prompts; 128 (an evaluation ≈ 66 s in bf16): "
                "irr_train's early rise, +4.0 [+2.3, +5.7] nats at step 60, is beyond their "
                "noise, not 64's or 16's (docs/findings.md); --probe-offset 128 gives the same "
                "run on the next 128",
            ),
            lr=(
                5e-5,
                "paper: 5e-7 over 3,400 steps; 10× the reference GPU run's 5e-6, whose y⁺ "
                "peaks at step 500 of 1,200",
            ),
            warmup_steps=(
                100,
                "paper: 150 of 3,400 steps; RMSprop's v has a 1/(1 − α) = 100-step memory "
                "and no bias correction, so a shorter warmup makes the first steps ≈ "
                "lr/√(1 − α^k): at 20, every type but y* dropped 7–25 nats by step 25",
            ),
            beta=(0.1, "paper: β = 0.1"),
            batch_size=(
                8,
                "paper: 4; the squeeze's pace is set by pair-visits, whatever the batch "
                "(batches 1, 2, 4 and 8 at 64/32, docs/findings.md grid), and 8 pairs a step "
                "are the cheapest visits on 2 cores (0.39 s each in bf16, 0.6 s at batch 2)",
            ),
            max_length=(64, "paper: 512; at 32/16 y⁺ stalls above its start (grid)"),
            max_prompt_length=(32, "paper: 256; the prompt's last 32 tokens"),
            precision=(
                "bf16",
                "the reference GPU run's bf16 autocast; 1.7× a step on a CPU with AVX512-BF16 "
                "or AMX (a CPU without them emulates it, says so, and --precision fp32 is faster)",
            ),
            steps=(
                650,
                "paper: ≈ 2.7 epochs of 5,000 pairs; here 10 epochs of 499: y⁺ peaks near step "
                "130–150 and is below its start beyond the noise from step 450 over prompts "
                "1–128, from step 650 over prompts 129–256 (docs/findings.md); 41 min on 2 idle "
                "cores",
            ),
            eval_every=(
                130,
                "paper: every 25 steps; an evaluation of 128 prompts × 13 types costs what 22 "
                "steps do, so 5 after the early phase",
            ),
            eval_at=(
                "20,40,60",
                "irr_train's rise is over by step 80 and dips at 50 (read every 10 steps: +2.0, "
                "+3.6, +4.0 nats at 20, 40, 60)",
            ),
        ),
        _preset(
            "cpu-extend-dpo",
            "extension on SmolLM2: SFT on y⁺ and y⁻, then DPO",
            CPU,
            method=("extend-dpo", "paper: SFT on both responses, then DPO"),
            lr=(5e-6, "paper: 5e-7"),
            beta=(0.1, "paper: β = 0.1"),
            sft_steps=(16, "paper: 2 epochs of both responses; here 2 epochs of 32"),
            steps=(40, "paper: ≈ 2.7 epochs of DPO; here 10 epochs of 16"),
        ),
        _preset(
            "cpu-sft-dpo",
            "the extension's baseline on SmolLM2: SFT on y⁺, then DPO",
            CPU,
            method=("sft-dpo", "paper: SFT on the chosen responses, then DPO"),
            lr=(5e-6, "paper: 5e-7"),
            beta=(0.1, "paper: β = 0.1"),
            sft_steps=(16, "as cpu-extend-dpo: the same examples seen in each stage"),
            steps=(40, "paper: ≈ 2.7 epochs of DPO; here 10 epochs of 16"),
        ),
        _preset(
            "cpu-onpolicy-dpo",
            "on-policy DPO on SmolLM2 (pairs sampled and ranked)",
            CPU,
            method=("onpolicy-dpo", "paper: on-policy DPO, Sec. 4.4"),
            lr=(5e-6, "paper: 5e-7"),
            beta=(0.1, "paper: β = 0.1"),
            steps=(16, "sampling costs ~2 generations per prompt and step"),
            max_new_tokens=(32, "sampled response length"),
            reward=("pair-overlap", CPU_REWARD),
        ),
        _preset(
            "gpu-dpo",
            "the reference run (DPO on SmolLM2, 499 HH pairs, lr 5e-6) on to 3,400 steps",
            GPU,
            method=("dpo", "paper: off-policy DPO"),
            lr=(5e-6, LR_GPU),
            beta=(0.1, "paper: β = 0.1"),
            steps=(3_400, "paper: 3,400 (≈ 2.7 epochs of 5,000); here 27 epochs of 499"),
        ),
        _preset(
            "gpu-sft",
            "SFT on SmolLM2's y⁺, 499 HH examples, 8 epochs",
            GPU,
            method=("sft", "paper: SFT on the chosen responses"),
            lr=(5e-6, LR_GPU),
            steps=(1_000, "paper: 8 epochs; here 8 epochs of 499 at batch 4"),
            eval_every=(50, "paper: every 25 steps; 20 evaluations over the run"),
        ),
        _preset(
            "gpu-sft-dpo",
            "the extension's baseline on SmolLM2: SFT on y⁺ (500 steps), then 2,000 DPO steps",
            GPU,
            method=("sft-dpo", "paper: SFT on the chosen responses, then DPO"),
            lr=(5e-6, LR_GPU),
            beta=(0.1, "paper: β = 0.1"),
            sft_steps=(500, "as gpu-extend-dpo: the same number of SFT steps (4 epochs of y⁺)"),
            steps=(2_000, "paper: 3,400; 2,000 fit 5 minutes after the SFT stage"),
        ),
        _preset(
            "gpu-extend-dpo",
            "the extension on SmolLM2: SFT on y⁺ and y⁻ (500 steps), then 2,000 DPO steps",
            GPU,
            method=("extend-dpo", "paper: SFT on both responses, then DPO"),
            lr=(5e-6, LR_GPU),
            beta=(0.1, "paper: β = 0.1"),
            sft_steps=(500, "paper: 2 epochs of both responses; here 2 epochs of 998"),
            steps=(2_000, "paper: 3,400; 2,000 fit 5 minutes after the SFT stage"),
        ),
        _preset(
            "gpu-onpolicy-dpo",
            "on-policy DPO on SmolLM2, 499 HH prompts, 200 steps of sampled pairs",
            GPU,
            method=("onpolicy-dpo", "paper: on-policy DPO, Sec. 4.4"),
            lr=(5e-6, LR_GPU),
            beta=(0.1, "paper: β = 0.1"),
            warmup_steps=(20, "paper: 150; a tenth of this run's 200 steps"),
            steps=(200, "sampling 2 × 64 tokens per prompt and step: ~1 s a step on a GPU"),
            eval_every=(20, "paper: every 25 steps; 10 evaluations over the run"),
            max_new_tokens=(64, "sampled response length"),
            reward=("pair-overlap", CPU_REWARD),
        ),
    )
}
