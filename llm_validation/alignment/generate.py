"""`python -m llm_validation generate --model M --prompts FILE --out DIR`: sample responses.

Prompts come from `synthetic` (the built-in task, drawn with `prompt_seed`, held out from
training runs, which draw with their own `--seed`), a JSONL file with a string `prompt` per line
(probe and preference files qualify), or a plain text file with one prompt per line (`\\n` written
as backslash-n). Prompts are truncated to their last `max_prompt_length` tokens (keep_end, as in
training), left padded (EOS as pad) and sampled `batch_size` at a time with temperature T and
nucleus p; sampling stops at EOS or `max_new_tokens`.

DIR/generations.jsonl gets one object per prompt {index, prompt, response, model, settings,
tokens, entropy_sum}, one batch appended and flushed at a time. A rerun with the same settings
continues after the last complete batch (each batch's sampling is seeded by (seed, its first
index), so a resumed run draws what the uninterrupted run would have); other settings are a
one-line error. DIR/diversity.json reports `core.diversity` over all responses and the throughput.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from common.errors import UserError
from common.progress import progress
from common.runs import claim_run_dir, write_json
from llm_validation.config import GenerateConfig
from llm_validation.core.diversity import diversity


def read_prompts(cfg: GenerateConfig) -> list[str]:
    """The prompts of `cfg.prompts` (see the module docstring), at most `cfg.limit`."""
    if cfg.prompts == "synthetic":
        from llm_validation.sources.synthetic import generate

        return [ex.prompt for ex in generate(cfg.limit or 64, cfg.prompt_seed)]
    path = Path(cfg.prompts)
    if not path.is_file():
        raise UserError(f"prompts file not found: {cfg.prompts}")
    prompts, skipped = [], 0
    for number, line in enumerate(
        path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1
    ):
        if not line.strip():
            continue
        if path.suffix in (".jsonl", ".json"):
            try:
                prompt = json.loads(line)["prompt"]
                if not isinstance(prompt, str) or not prompt.strip():
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                if cfg.strict:
                    raise UserError(f"{path}:{number}: no string 'prompt' field") from None
                skipped += 1
                continue
        else:
            prompt = line.replace("\\n", "\n")
        prompts.append(prompt)
    if skipped:
        print(f"prompts: skipped {skipped} malformed lines of {path}", file=sys.stderr)
    if not prompts:
        raise UserError(f"{cfg.prompts}: no prompts")
    return prompts[: cfg.limit]


def check(cfg: GenerateConfig) -> None:
    """Every flag checked before a model loads."""
    if cfg.batch_size < 1 or cfg.max_new_tokens < 1 or cfg.max_prompt_length < 1:
        raise UserError("--batch-size, --max-new-tokens and --max-prompt-length must be ≥ 1")
    if cfg.limit is not None and cfg.limit < 1:
        raise UserError("--limit must be ≥ 1")
    if cfg.temperature < 0 or not 0 < cfg.top_p <= 1:
        raise UserError("--temperature must be ≥ 0 and --top-p in (0, 1]")
    if cfg.repeat_n < 1:
        raise UserError("--repeat-n must be ≥ 1")


def left_pad(rows: list[list[int]], pad_id: int):
    """Token rows → (input_ids, attention_mask), Shape: (B, max len), padding on the left."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return ids, mask


def response_lengths(new, eos: int):
    """Tokens each response counts: up to and including its first EOS (all of a row without
    one; what comes after it is padding). Shape: new (B, T) → (B,)."""
    is_eos = new == eos
    return ((is_eos.cumsum(-1) - is_eos.long()) == 0).sum(-1)


def sample_batch(model, tokenizer, prompts: list[str], cfg: GenerateConfig, seed: int):
    """Sample one batch → [(response text, tokens incl. EOS, Σ_t H(p_t))] per prompt.

    H(p_t) is the entropy of the distribution token t was drawn from (the processed scores after
    temperature and top-p; with T = 0 the model's own distribution)."""
    import torch

    from llm_validation.core.logprobs import encode

    eos = tokenizer.eos_token_id
    rows = [encode(tokenizer, p)[-cfg.max_prompt_length :] for p in prompts]
    device = next(model.parameters()).device
    ids, mask = (t.to(device) for t in left_pad(rows, eos))
    torch.manual_seed(seed)
    sampling = (
        dict(do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p, top_k=0)
        if cfg.temperature > 0
        else dict(do_sample=False)
    )
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=cfg.max_new_tokens,
            pad_token_id=eos,
            eos_token_id=eos,
            use_cache=True,
            output_scores=True,
            return_dict_in_generate=True,
            **sampling,
        )
    new = out.sequences[:, ids.shape[1] :]  # (B, T_new)
    logp = torch.stack([torch.log_softmax(s.float(), -1) for s in out.scores], 1)  # (B, T, V)
    entropy = torch.special.entr(logp.exp()).sum(-1)  # (B, T_new)
    is_eos, lengths = new == eos, response_lengths(new, eos)
    results = []
    for i in range(len(prompts)):
        n = int(lengths[i])
        text = tokenizer.decode(new[i, :n][~is_eos[i, :n]], skip_special_tokens=True)
        results.append((text, n, float(entropy[i, :n].sum())))
    return results


def resume_point(path: Path, settings: dict) -> list[dict]:
    """Complete records already in generations.jsonl (a cut-off last line is dropped); a file
    written with other settings is a one-line error."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            break
    if records and records[0].get("settings") != settings:
        raise UserError(f"{path} was generated with other settings; use another --out")
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return records


def main(cfg: GenerateConfig) -> dict:
    """Sample every prompt (resuming), write the JSONL and diversity.json → the summary."""
    check(cfg)
    prompts = read_prompts(cfg)
    config = {"kind": "generate", **asdict(cfg)}
    with claim_run_dir(cfg.run_dir(), config, cfg.resume, cfg.overwrite) as out:
        return _generate(cfg, prompts, out)


def _generate(cfg: GenerateConfig, prompts: list[str], out: Path) -> dict:
    from llm_validation.sources.models import load_model
    from llm_validation.training.runtime import pick_device

    path, settings = out / "generations.jsonl", cfg.settings()
    records = resume_point(path, settings)
    started, new_tokens = time.perf_counter(), 0
    if len(records) < len(prompts):  # a finished folder loads no model
        model, tokenizer = load_model(cfg.model, seed=cfg.seed, device=pick_device(cfg.device))
    bar = progress(len(prompts), "generating", unit="prompt", initial=len(records))
    with path.open("a", encoding="utf-8") as handle:
        for begin in range(len(records), len(prompts), cfg.batch_size):
            batch = prompts[begin : begin + cfg.batch_size]
            results = sample_batch(model, tokenizer, batch, cfg, cfg.seed * 1_000_003 + begin)
            lines = []
            for offset, (prompt, (text, n, h)) in enumerate(zip(batch, results, strict=True)):
                record = {
                    "index": begin + offset,
                    "prompt": prompt,
                    "response": text,
                    "model": cfg.model,
                    "settings": settings,
                    "tokens": n,
                    "entropy_sum": h,
                }
                records.append(record)
                lines.append(json.dumps(record) + "\n")
                new_tokens += n
            handle.write("".join(lines))
            handle.flush()
            bar.update(len(batch))
    bar.close()
    seconds = time.perf_counter() - started
    summary = {
        "n": len(records),
        **diversity(
            [r["response"] for r in records],
            [r["entropy_sum"] for r in records],
            [r["tokens"] for r in records],
            cfg.repeat_n,
        ),
        "tokens_generated": new_tokens,
        "seconds": round(seconds, 3),
        "tokens_per_second": new_tokens / seconds if new_tokens else 0.0,
    }
    write_json(out / "diversity.json", summary)
    return summary
