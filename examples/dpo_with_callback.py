"""Your own trl DPO run with the learning-dynamics callback: CPU, under a minute.

    pip install -e '.[trl]'
    python examples/dpo_with_callback.py

Put your own SFT checkpoint in MODEL and your own data in `train` (e.g.
`load_dataset("trl-lib/ultrafeedback_binarized", split="train")`); here a tiny random model is
made on the fly and the built-in synthetic task gives both the training pairs and the probes.
"""

from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer

from llm_validation import LearningDynamicsCallback, load_examples, load_model

MODEL = "runs/tiny-llama-model"  # your SFT checkpoint: any HF model folder or hub name
for part in load_model("tiny-llama"):  # for the demo: a 2-layer random model and its tokenizer
    part.save_pretrained(MODEL)

model = AutoModelForCausalLM.from_pretrained(MODEL)
tokenizer = AutoTokenizer.from_pretrained(MODEL)
pairs, _ = load_examples("synthetic", limit=32)  # or a JSONL / parquet / hub:NAME file
train = Dataset.from_list(
    [{"prompt": e.prompt, "chosen": e.chosen, "rejected": e.rejected} for e in pairs]
)
tracker = LearningDynamicsCallback(
    "synthetic",  # probe file: JSONL, parquet, a datasets folder, hub:NAME, or a Dataset
    probe_limit=16,
    eval_every=2,
    out="runs/my-dpo",
    tokenizer=tokenizer,
)
args = DPOConfig(
    output_dir="runs/my-dpo-trainer",
    max_steps=6,
    per_device_train_batch_size=4,
    learning_rate=1e-2,
    bf16=False,
    use_cpu=True,
    logging_steps=2,
    save_strategy="no",
    report_to="none",  # or "tensorboard" (pip install -e '.[trl,tensorboard]'), "wandb", …
)
trainer = DPOTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer)
tracker.attach(trainer)  # first among the callbacks, so report_to integrations get ld/* too
trainer.train()
logged = [e for e in trainer.state.log_history if "ld/chosen/logp" in e]
steps = [e["step"] for e in logged]  # 0 (the baseline), 2, 4, 6
print(
    f"steps {steps}: log π(y⁺|x) {logged[0]['ld/chosen/logp']:.2f} → {logged[-1]['ld/chosen/logp']:.2f}"
)
