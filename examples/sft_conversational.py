"""Your own trl SFT run on conversational (`messages`) data, probes in the same format: CPU,
under a minute.

    pip install -e '.[trl]'
    python examples/sft_conversational.py

trl's language-modelling format: one `messages` list per row. The callback takes each probe
row's last assistant turn as y⁺ (`chosen`) and the turns before it as the prompt, rendered with
the tokenizer's chat template as trl renders them.
"""

import json
from pathlib import Path

from datasets import Dataset
from trl import SFTConfig, SFTTrainer

from llm_validation import LearningDynamicsCallback, load_examples, load_model

model, tokenizer = load_model("tiny-llama")  # your model: AutoModelForCausalLM.from_pretrained
tokenizer.chat_template = (  # the tiny model has none; a real chat model brings its own
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def conversation(example):
    return {
        "messages": [
            {"role": "user", "content": example.prompt},
            {"role": "assistant", "content": example.chosen},
        ]
    }


examples, _ = load_examples("synthetic", limit=48)
train = Dataset.from_list([conversation(e) for e in examples[:32]])
probes = Path("runs/sft-probes.jsonl")  # held-out conversations, one JSON object a line
probes.parent.mkdir(exist_ok=True)
probes.write_text("".join(json.dumps(conversation(e)) + "\n" for e in examples[32:]))

tracker = LearningDynamicsCallback(probes, eval_every=2, out="runs/my-sft", tokenizer=tokenizer)
args = SFTConfig(
    output_dir="runs/my-sft-trainer",
    max_steps=6,
    per_device_train_batch_size=4,
    learning_rate=1e-2,
    bf16=False,
    use_cpu=True,
    logging_steps=2,
    save_strategy="no",
    report_to="none",
)
trainer = SFTTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer)
tracker.attach(trainer)
trainer.train()
print(Path("runs/my-sft/metrics.csv").read_text().splitlines()[:3])
