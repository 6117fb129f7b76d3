"""Short CPU runs of tiny-neox under each trainer the callback supports (test helpers).

Each builder takes (examples, output folder, callback) and returns a trainer ready to `train()`:
4 examples a step, each trainer's own defaults (AdamW, linear decay) except a large learning rate
(1e-2), so that a few steps move the probes well past float noise.
"""

from __future__ import annotations

import copy

from datasets import Dataset

from llm_validation.sources.models import load_model

COMMON = dict(
    per_device_train_batch_size=4,
    logging_steps=1,
    report_to=[],
    bf16=False,
    use_cpu=True,
    save_strategy="no",
    learning_rate=1e-2,
    seed=0,
    disable_tqdm=True,
)
TRL_COMMON = dict(COMMON, gradient_checkpointing=False)  # trl configs default it to True


def preference_dataset(examples) -> Dataset:
    return Dataset.from_list(
        [{"prompt": e.prompt, "chosen": e.chosen, "rejected": e.rejected} for e in examples]
    )


def dpo(examples, out, callback, steps=4, precompute=False, peft=False, **config):
    from trl import DPOConfig, DPOTrainer

    model, tokenizer = load_model("tiny-neox")
    args = DPOConfig(
        output_dir=str(out),
        max_steps=steps,
        precompute_ref_log_probs=precompute,
        **{**TRL_COMMON, **config},
    )
    extra = {}
    if peft:
        from peft import LoraConfig

        extra["peft_config"] = LoraConfig(
            r=4, lora_alpha=8, target_modules=["query_key_value"], task_type="CAUSAL_LM"
        )
    else:
        extra["ref_model"] = copy.deepcopy(model)
    return DPOTrainer(
        model=model,
        args=args,
        train_dataset=preference_dataset(examples),
        processing_class=tokenizer,
        callbacks=[callback],
        **extra,
    )


def sft(examples, out, callback, steps=4):
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = load_model("tiny-neox")
    data = Dataset.from_list([{"prompt": e.prompt, "completion": e.chosen} for e in examples])
    args = SFTConfig(output_dir=str(out), max_steps=steps, **TRL_COMMON)
    return SFTTrainer(
        model=model, args=args, train_dataset=data, processing_class=tokenizer, callbacks=[callback]
    )


def plain(examples, out, callback, steps=4):
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    model, tokenizer = load_model("tiny-neox")
    texts = [e.prompt + e.chosen + tokenizer.eos_token for e in examples]
    data = Dataset.from_list([{"input_ids": tokenizer(t)["input_ids"]} for t in texts])
    args = TrainingArguments(output_dir=str(out), max_steps=steps, **COMMON)
    return Trainer(
        model=model,
        args=args,
        train_dataset=data,
        processing_class=tokenizer,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
        callbacks=[callback],
    )


def cpo(examples, out, callback, steps=4):
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    model, tokenizer = load_model("tiny-neox")
    args = CPOConfig(output_dir=str(out), max_steps=steps, **TRL_COMMON)
    return CPOTrainer(
        model=model,
        args=args,
        train_dataset=preference_dataset(examples),
        processing_class=tokenizer,
        callbacks=[callback],
    )


TRAINERS = {
    "Trainer": plain,
    "SFTTrainer": sft,
    "DPOTrainer": dpo,
    "DPOTrainer-ipo": lambda *a, **k: dpo(*a, loss_type="ipo", **k),
    "DPOTrainer-precomputed-reference": lambda *a, **k: dpo(*a, precompute=True, **k),
    "DPOTrainer-peft-lora": lambda *a, **k: dpo(*a, peft=True, **k),
    "CPOTrainer": cpo,
}
