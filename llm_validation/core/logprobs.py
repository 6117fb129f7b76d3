"""Teacher-forced sequence log-probabilities: the one audited, batched implementation.

For a prompt x and a response y = (y_1 … y_L) the sequence log-prob is

    log π(y | x) = Σ_{l=1}^{L} log π(y_l | x, y_<l)                      (paper Eq. (1), summed)

Conventions (the paper's code, inherited from eric-mitchell/direct-preference-optimization):

- prompt and response are tokenised separately without special tokens and concatenated; EOS is
  appended to every response and counted as one of its tokens (so L includes EOS);
- prompt positions and padding are masked out of the sum;
- when prompt + longest response exceeds `max_length`, the prompt is cut to `max_prompt_length`
  (keeping its end, `keep_end`, as the paper does for HH), and if still too long every response is
  cut to `max_length − max_prompt_length` (which can drop the EOS). The cut is decided once per
  example from its longest response, so all of one probe example's responses share one prompt.

`reduction="sum"` is the paper's quantity; `reduction="mean"` is the token-mean variant
(1/L) log π(y | x), used e.g. by SimPO's length normalisation.

Per-token statistics (`TOKEN_METRICS`, returned by `score` as per-sequence token means) use the
softmax π ∈ Δ^V at each response position and the observed token y:
mass outside the argmax 1 − max_v π_v; miss 1 − π_y; ‖π − e_y‖₂; and ‖A‖_F for A = I − 1πᵀ,
with ‖A‖_F² = V‖π‖² + V − 2. The greedy response y* = Σ_l max_v log π(v | x, y⁺_<l) (the per-position
argmax along y⁺) is the sequence sum of `logp_max`.

Only the scored work is done: where the model splits into a body (h = body(x)) and an LM head
(z = W_U h, `body_and_head`), the body runs over the batch and the head and its log-softmax only
at the response positions (shifted by one), in chunks of `HEAD_CHUNK` logits, so that no (B, T, V)
tensor exists; SmolLM2's head is 21 % of its parameters and at 8 × 512 tokens the full logits are
0.8 GB in fp32. Models that do not split (a logit soft-cap, a prompt-tuning adapter, an FSDP
wrapper) take the full-logits path, `token_logps`, which is also the oracle (`split=False`).

`sequence_logps` (differentiable, one padded batch) and `score` (no grad, length-bucketed, every
statistic) share `response_rows`; `naive_sequence_logp` is their per-example oracle for tests.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from common.runs import TOKEN_METRICS

BOUNDARIES = ("separate", "trl")
HEAD_CHUNK = 2**26  # logits per chunk of the gathered head: 256 MB in fp32
# model types whose logits are exactly lm_head(body(x).last_hidden_state) (transformers 5: no
# soft-cap, scale or bias term after the head), so the head can run at the scored positions alone
PLAIN_HEAD = frozenset({"llama", "gpt_neox", "mistral", "qwen2", "qwen3", "gpt2"})


@dataclass(frozen=True)
class Truncation:
    """How a (prompt, response) pair becomes token ids: the paper's length limits (DPO repo
    defaults: 512 / 256, keep_end for HH) and where the prompt/response boundary falls.

    boundary `separate` (the paper's code, the DPO repo's way): prompt and response are tokenised
    on their own and concatenated. `trl`: the prompt and prompt+response are tokenised and the
    response starts where they diverge (trl's `common_prefix_length`; chosen and rejected share
    the earlier boundary, as in trl). The two differ where tokens merge across the boundary
    ("…Assistant: " + "Sure").

    `share_budget`: a prompt shorter than max_prompt_length leaves its unused tokens to the
    response (the response keeps max_length − |prompt| tokens); the paper's code keeps a fixed
    max_length − max_prompt_length.
    """

    max_length: int = 512
    max_prompt_length: int = 256
    mode: str = "keep_end"  # or "keep_start"
    boundary: str = "separate"  # or "trl"
    share_budget: bool = False


PAPER_TRUNCATION = Truncation()


@dataclass(frozen=True)
class Tokenized:
    """One (prompt, response) pair as token ids; `prompt_len` leading ids belong to the prompt."""

    ids: tuple[int, ...]
    prompt_len: int

    @property
    def response_len(self) -> int:
        return len(self.ids) - self.prompt_len


@dataclass
class CutReport:
    """What truncation removed, per probe type: responses seen, responses cut and the largest cut
    (tokens), and how many prompts lost tokens. Filled by `tokenize_example(…, report=)`."""

    responses: dict[str, int] = field(default_factory=dict)
    cut: dict[str, int] = field(default_factory=dict)
    largest: dict[str, int] = field(default_factory=dict)
    prompts: int = 0
    prompts_cut: int = 0

    def add(self, name: str, removed: int) -> None:
        self.responses[name] = self.responses.get(name, 0) + 1
        if removed > 0:
            self.cut[name] = self.cut.get(name, 0) + 1
            self.largest[name] = max(self.largest.get(name, 0), removed)

    def lines(self) -> list[str]:
        """One line per probe type that lost tokens, and one for the prompts; [] if none did."""
        out = [
            f"truncation cut {self.cut[k]} of {self.responses[k]} {k} responses (largest cut "
            f"{self.largest[k]} tokens)"
            for k in self.responses
            if k in self.cut
        ]
        if self.prompts_cut:
            out.append(f"truncation cut {self.prompts_cut} of {self.prompts} prompts")
        return out

    def to_json(self) -> dict:
        return {
            "responses": self.responses,
            "cut": self.cut,
            "largest_cut": self.largest,
            "prompts": self.prompts,
            "prompts_cut": self.prompts_cut,
        }


def encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of leading ids `a` and `b` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def split_ids(tokenizer, prompt: str, responses: Mapping[str, str], boundary: str = "separate"):
    """({name: prompt ids}, {name: response ids}) before EOS and truncation, at the boundary.

    `trl`: each response starts where prompt and prompt+response tokenisations diverge; chosen
    and rejected share the earlier of their two boundaries, as trl's DPO tokenisation does, so a
    pair keeps one prompt. Every other response keeps its own."""
    prompt_ids = encode(tokenizer, prompt)
    if boundary == "separate":
        return {k: prompt_ids for k in responses}, {
            k: encode(tokenizer, v) for k, v in responses.items()
        }
    if boundary != "trl":
        raise ValueError(f"unknown boundary {boundary!r}; choose from {', '.join(BOUNDARIES)}")
    joint = {k: encode(tokenizer, prompt + v) for k, v in responses.items()}
    cut = {k: common_prefix_length(prompt_ids, ids) for k, ids in joint.items()}
    pair = [k for k in ("chosen", "rejected") if k in cut]
    for k in pair:
        cut[k] = min(cut[p] for p in pair)
    return {k: prompt_ids[: cut[k]] for k in joint}, {k: ids[cut[k] :] for k, ids in joint.items()}


def cut_prompt(ids: Sequence[int], truncation: Truncation) -> list[int]:
    """The prompt's max_prompt_length tokens: its end under keep_end, its start under keep_start."""
    keep = truncation.max_prompt_length
    return list(ids[-keep:] if truncation.mode == "keep_end" else ids[:keep])


def sampling_prompt(ids: Sequence[int], truncation: Truncation, max_new_tokens: int) -> list[int]:
    """The prompt a policy samples a response of up to max_new_tokens (+ EOS) from: cut as
    `tokenize_example` cuts it for a response of that length, so the sample continues what training
    reads (a shorter sample may leave training room for more of the prompt than sampling saw)."""
    if len(ids) + max_new_tokens + 1 <= truncation.max_length:
        return list(ids)
    return cut_prompt(ids, truncation)


def tokenize_example(
    tokenizer,
    prompt: str,
    responses: Mapping[str, str],
    truncation: Truncation = PAPER_TRUNCATION,
    report: CutReport | None = None,
) -> dict[str, Tokenized]:
    """{name: Tokenized} for one prompt and its responses, EOS appended, truncated jointly: when
    prompt + the longest response exceed max_length, the prompt keeps max_prompt_length tokens
    (from its end under keep_end), then every response keeps max_length − max_prompt_length
    (or, with share_budget, max_length − |prompt|). What was cut is added to `report`."""
    prompts, response_ids = split_ids(tokenizer, prompt, responses, truncation.boundary)
    response_ids = {k: r + [tokenizer.eos_token_id] for k, r in response_ids.items()}
    full = {k: len(r) for k, r in response_ids.items()}
    longest = max(len(prompts[k]) + n for k, n in full.items())
    keep = truncation.max_prompt_length
    if longest > truncation.max_length:
        cut = {k: cut_prompt(p, truncation) for k, p in prompts.items()}
    else:
        cut = prompts
    if max(len(cut[k]) + n for k, n in full.items()) > truncation.max_length:
        for k, r in response_ids.items():
            budget = truncation.max_length - (len(cut[k]) if truncation.share_budget else keep)
            response_ids[k] = r[:budget]
    if report is not None:
        report.prompts += 1
        report.prompts_cut += any(len(cut[k]) < len(prompts[k]) for k in prompts)
        for k, r in response_ids.items():
            report.add(k, full[k] - len(r))
    return {k: Tokenized(tuple(cut[k] + r), len(cut[k])) for k, r in response_ids.items()}


def collate(items: Sequence[Tokenized], pad_id: int) -> tuple[Tensor, Tensor, Tensor]:
    """Right-pad → input_ids, attention_mask, response_mask, each Shape: (B, T).

    response_mask[b, t] is True where token t of sequence b is a response token (a target)."""
    width = max(len(it.ids) for it in items)
    lengths = torch.tensor([len(it.ids) for it in items])
    starts = torch.tensor([it.prompt_len for it in items])
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    flat = torch.tensor([t for it in items for t in it.ids], dtype=torch.long)
    positions = torch.arange(width)
    attention = positions[None, :] < lengths[:, None]  # (B, T)
    ids[attention] = flat  # row-major fill matches the concatenation order
    response = attention & (positions[None, :] >= starts[:, None])
    return ids, attention.long(), response


def at_least_fp32(z: Tensor) -> Tensor:
    """z in float32, or in its own dtype when that is wider (a float64 model keeps float64)."""
    return z.to(torch.promote_types(z.dtype, torch.float32))


def token_logps(logits: Tensor, input_ids: Tensor, response_mask: Tensor) -> tuple[Tensor, Tensor]:
    """log π(y_l | x, y_<l) at every position → (logp Shape: (B, T−1), mask Shape: (B, T−1)).

    Position t of the outputs scores token t+1 from the logits at t (teacher forcing)."""
    logits = at_least_fp32(logits[:, :-1])  # (B, T−1, V)
    targets = input_ids[:, 1:]  # (B, T−1)
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1), response_mask[:, 1:]


def reduce(per_token: Tensor, mask: Tensor, reduction: str = "sum") -> Tensor:
    """Σ over masked positions (`sum`) or its mean over the L response tokens (`mean`). (B,)

    Accumulates in float64: a float32 sum of a few hundred terms drifts by ~1e-4."""
    total = (per_token.double() * mask).sum(-1)
    return total if reduction == "sum" else total / mask.sum(-1).clamp_min(1)


@dataclass(frozen=True)
class Split:
    """A causal LM as body and head: z = head(body(x).last_hidden_state) over `vocab` tokens."""

    body: torch.nn.Module
    head: torch.nn.Module
    vocab: int


def _sharded(model: torch.nn.Module) -> bool:
    """True under FSDP (1 or 2): its parameters are gathered only by the wrapper's own forward."""
    if not torch.distributed.is_available():
        return False
    from torch.distributed.fsdp import FSDPModule, FullyShardedDataParallel

    return any(isinstance(m, FSDPModule | FullyShardedDataParallel) for m in model.modules())


def body_and_head(model: torch.nn.Module) -> Split | None:
    """The model's body (`get_decoder()`) and LM head (`get_output_embeddings()`), found through
    a peft wrapper (LoRA and its kin live inside the layers; prompt learning changes the inputs,
    so it does not split); None where the logits are not the head's output alone (a model type
    outside `PLAIN_HEAD`) or the model is FSDP-sharded."""
    net = model
    if hasattr(model, "peft_config") and hasattr(model, "get_base_model"):
        if model.active_peft_config.is_prompt_learning:
            return None
        net = model.get_base_model()
    config = getattr(net, "config", None)
    if getattr(config, "model_type", None) not in PLAIN_HEAD or _sharded(model):
        return None
    if not (hasattr(net, "get_decoder") and hasattr(net, "get_output_embeddings")):
        return None
    return Split(net.get_decoder(), net.get_output_embeddings(), config.vocab_size)


def response_rows(
    model, input_ids: Tensor, attention_mask: Tensor, response_mask: Tensor, split: bool = True
) -> tuple[Tensor, Tensor, Tensor, Tensor, Callable[[Tensor], Tensor], int]:
    """One forward → the response positions and what the head needs there:
    (seq, pos, targets, x, to_logits, rows), seq/pos/targets Shape: (n,), with position pos of row
    seq scoring token pos + 1 (teacher forcing) and z = to_logits(x[i:j]) the logits of rows
    i..j, Shape: (j − i, V), to be taken `rows` at a time.

    With a body/head split (`body_and_head`, and `split`), x are the body's hidden states at those
    positions, Shape: (n, d), and to_logits the head; otherwise x are the full forward's logits
    there, Shape: (n, V), and to_logits the identity."""
    seq, pos = response_mask[:, 1:].nonzero(as_tuple=True)  # (n,), (n,)
    targets = input_ids[seq, pos + 1]
    parts = body_and_head(model) if split else None
    if parts is None:
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, T, V)
        return seq, pos, targets, logits[seq, pos], lambda z: z, max(1, len(seq))
    h = parts.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return seq, pos, targets, h[seq, pos], parts.head, max(1, HEAD_CHUNK // parts.vocab)


def prompt_groups(items: Sequence[Tokenized]) -> tuple[np.ndarray, list[int]]:
    """(group of each item, Shape: (N,), the first item of each group): items whose prompt ids
    are equal share a group (a pair's y⁺ and y⁻; a probe's 13 responses)."""
    index: dict[tuple[int, ...], int] = {}
    group, firsts = [], []
    for i, it in enumerate(items):
        prompt = it.ids[: it.prompt_len]
        if prompt not in index:
            index[prompt] = len(firsts)
            firsts.append(i)
        group.append(index[prompt])
    return np.asarray(group), firsts


def shares_prompts(items: Sequence[Tokenized]) -> bool:
    """Whether `shared_prompt_rows` applies and pads fewer tokens than one padded batch: every
    item has a prompt and a response, and G·P + N·R < N·T (G distinct prompts padded to P,
    N responses to R, against N sequences to T)."""
    if not items or any(it.prompt_len < 1 or it.response_len < 1 for it in items):
        return False
    _, firsts = prompt_groups(items)
    prompt = max(items[i].prompt_len for i in firsts)
    response = max(it.response_len for it in items)
    return len(firsts) * prompt + len(items) * response < len(items) * max(
        len(it.ids) for it in items
    )


def right_pad(rows: Sequence[Sequence[int]], pad_id: int, device) -> tuple[Tensor, Tensor]:
    """ids and attention mask, right-padded, each Shape: (len(rows), longest)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, : len(r)], mask[b, : len(r)] = torch.tensor(r, dtype=torch.long), 1
    return ids.to(device), mask.to(device)


def cache_argument(body: torch.nn.Module) -> str:
    """The name under which `body` takes and returns its key/value cache: `cache` from
    transformers 5.2x, `past_key_values` before it."""
    return "cache" if "cache" in inspect.signature(body.forward).parameters else "past_key_values"


def shared_prompt_rows(
    parts: Split, items: Sequence[Tokenized], pad_id: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Each distinct prompt through the body once, each response after it from the prompt's
    cached keys and values → (seq, targets, x), as `response_rows` with a split: x, Shape: (n, d),
    the hidden states that score targets[k], a token of item seq[k].

        H_x = body(x) (G, P, d), K/V cached;   H_y = body(y | K/V of x_g) (N, R, d)

    Token l of item i's response is scored from H_x[g_i, |x| − 1] (l = 1) or H_y[i, l − 2]. The
    same numbers as one padded batch (the attention sees the same keys at the same positions)
    for G·P + N·R tokens instead of N·T: a DPO pair at 64/32 runs 96 tokens, not 128. Prompts are
    right-padded, so no query attends to nothing, and response positions continue from |x_g|."""
    device = next(parts.body.parameters()).device
    group, firsts = prompt_groups(items)
    g = torch.as_tensor(group, device=device)
    prompt_ids, prompt_mask = right_pad(
        [items[i].ids[: items[i].prompt_len] for i in firsts], pad_id, device
    )
    response_ids, response_mask = right_pad(
        [it.ids[it.prompt_len :] for it in items], pad_id, device
    )
    prompt_out = parts.body(input_ids=prompt_ids, attention_mask=prompt_mask, use_cache=True)
    name = cache_argument(parts.body)
    cache = getattr(prompt_out, name)
    cache.reorder_cache(g)  # (G, …) → (N, …): each response reads its own prompt's keys
    prompt_len = prompt_mask.sum(-1)[g]  # (N,)
    positions = prompt_len[:, None] + torch.arange(response_ids.shape[1], device=device)
    h = parts.body(
        input_ids=response_ids,
        attention_mask=torch.cat([prompt_mask[g], response_mask], dim=1),
        position_ids=positions,
        **{name: cache},
    ).last_hidden_state  # (N, R, d)
    seq, pos = response_mask[:, 1:].nonzero(as_tuple=True)  # token pos + 1 scored from h[seq, pos]
    everyone = torch.arange(len(items), device=device)
    first = prompt_out.last_hidden_state[g, prompt_len - 1]  # (N, d): scores response token 1
    return (
        torch.cat([everyone, seq]),
        torch.cat([response_ids[:, 0], response_ids[seq, pos + 1]]),
        torch.cat([first, h[seq, pos]]),
    )


def prompt_sharing(model, items: Sequence[Tokenized]) -> Split | None:
    """The body/head split through which `items` can share their prompts
    (`shared_prompt_rows`), or None: a model without a split, one that checkpoints its layers
    (which turns the cache off), or items that `shares_prompts` declines."""
    parts = body_and_head(model)
    if parts is None or getattr(parts.body, "gradient_checkpointing", False):
        return None
    return parts if shares_prompts(items) else None


def shared_sequence_logps(
    model, items: Sequence[Tokenized], pad_id: int, reduction: str = "sum"
) -> Tensor | None:
    """Differentiable log π(y | x) of `items` through `shared_prompt_rows` (Shape: (N,)), or None
    where `prompt_sharing` declines: the caller then takes the padded path, `sequence_logps`."""
    parts = prompt_sharing(model, items)
    if parts is None:
        return None
    seq, targets, x = shared_prompt_rows(parts, items, pad_id)
    logp = gathered_logps(parts.head, x, targets, max(1, HEAD_CHUNK // parts.vocab))
    total = logp.new_zeros(len(items), dtype=torch.float64).index_add(0, seq, logp.double())
    if reduction == "sum":
        return total
    return total / torch.tensor([it.response_len for it in items], device=total.device)


def chunks(n: int, rows: int) -> Iterator[slice]:
    """Consecutive slices of at most `rows` of range(n)."""
    return (slice(i, min(i + rows, n)) for i in range(0, n, rows))


def head_logps(to_logits: Callable[[Tensor], Tensor], x: Tensor, targets: Tensor) -> Tensor:
    """log π(y | ·) = z_y − logsumexp(z) with z = to_logits(x), in at least fp32. Shape: (n,)."""
    z = at_least_fp32(to_logits(x))  # (n, V)
    return z.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(z, dim=-1)


def gathered_logps(to_logits, x: Tensor, targets: Tensor, rows: int) -> Tensor:
    """`head_logps` taken `rows` at a time. Shape: (n,). Under autograd with more than one chunk
    each chunk is checkpointed (its logits are recomputed in the backward), so that no more than
    `rows` × V logits are held at once."""
    spans = list(chunks(len(targets), rows))
    if len(spans) == 1 or not torch.is_grad_enabled():
        return torch.cat([head_logps(to_logits, x[s], targets[s]) for s in spans])
    from torch.utils.checkpoint import checkpoint

    return torch.cat(
        [checkpoint(head_logps, to_logits, x[s], targets[s], use_reentrant=False) for s in spans]
    )


def sequence_logps(
    model,
    input_ids: Tensor,
    attention_mask: Tensor,
    response_mask: Tensor,
    reduction: str = "sum",
    split: bool = True,
) -> Tensor:
    """Differentiable log π(y | x) for one padded batch, the head applied at the response
    positions only (`response_rows`; `split=False`: the full-logits oracle). Shape: (B,)."""
    seq, pos, targets, x, to_logits, rows = response_rows(
        model, input_ids, attention_mask, response_mask, split
    )
    logp = gathered_logps(to_logits, x, targets, rows)  # (n,)
    per_token = logp.new_zeros(input_ids.shape[0], input_ids.shape[1] - 1)  # (B, T−1)
    per_token = per_token.index_put((seq, pos), logp)
    return reduce(per_token, response_mask[:, 1:], reduction)


def full_sequence_logps(
    model, input_ids: Tensor, attention_mask: Tensor, response_mask: Tensor, reduction: str = "sum"
) -> Tensor:
    """The naive twin of `sequence_logps`: the head and log-softmax at every position. (B,)."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, T, V)
    logp, mask = token_logps(logits, input_ids, response_mask)
    return reduce(logp, mask, reduction)


def token_statistics(z: Tensor, targets: Tensor) -> dict[str, Tensor]:
    """Per-token quantities from the logits z that score each target y. Shape: z (..., V),
    targets (...) → each (...).

    One shifted exponential e = exp(z − max z) gives them all without materialising π or log π
    over V: S₁ = Σ e, log π_y = z_y − max z − log S₁, max_v log π_v = −log S₁ and
    ‖π‖² = Σ e² / S₁². (torch.logsumexp would cost more than the forward on small models.)
    """
    z = at_least_fp32(z)
    z_max = z.amax(-1, keepdim=True)  # (..., 1)
    e = (z - z_max).exp_()  # (..., V)
    s1 = e.sum(-1)
    log_s1 = s1.log()
    logp = z.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - z_max.squeeze(-1) - log_s1
    logp_max = -log_s1
    sq_norm = torch.linalg.vecdot(e, e) / (s1 * s1)  # ‖π‖²
    pi_y = logp.exp()
    vocab = z.shape[-1]
    return {
        "logp": logp,
        "logp_max": logp_max,
        "mass_outside_argmax": 1 - logp_max.exp(),
        "one_minus_pi": 1 - pi_y,
        "residual_norm": (sq_norm - 2 * pi_y + 1).clamp_min(0).sqrt(),  # ‖π − e_y‖₂
        "a_frobenius": (vocab * sq_norm + vocab - 2).clamp_min(0).sqrt(),  # ‖I − 1πᵀ‖_F
    }


def length_buckets(lengths: Sequence[int], batch_tokens: int) -> list[np.ndarray]:
    """Indices grouped longest-first so that (batch size × longest length) ≤ batch_tokens."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    buckets, current, width = [], [], 0
    for i in order:
        width = width or lengths[i]
        if current and (len(current) + 1) * width > batch_tokens:
            buckets.append(np.array(current))
            current, width = [], lengths[i]
        current.append(i)
    return buckets + [np.array(current)] if current else buckets


def prompt_buckets(items: Sequence[Tokenized], batch_tokens: int) -> list[np.ndarray]:
    """Indices grouped whole prompt groups at a time (`prompt_groups`), longest response first,
    so that each bucket's G·P + N·R padded tokens stay ≤ batch_tokens (a group alone may not)."""
    group, firsts = prompt_groups(items)
    members = [np.flatnonzero(group == k) for k in range(len(firsts))]
    longest = lambda m: max(items[i].response_len for i in m)
    buckets, current, prompt, response, n = [], [], 0, 0, 0
    for m in sorted(members, key=longest, reverse=True):
        p, r = items[m[0]].prompt_len, longest(m)
        grown = (len(current) + 1) * max(prompt, p) + (n + len(m)) * max(response, r)
        if current and grown > batch_tokens:
            buckets.append(np.concatenate(current))
            current, prompt, response, n = [], 0, 0, 0
        current.append(m)
        prompt, response, n = max(prompt, p), max(response, r), n + len(m)
    return buckets + [np.concatenate(current)] if current else buckets


def two_buckets(lengths: Sequence[int], min_saving: float = 0.1) -> list[np.ndarray]:
    """Indices in one padded batch, or split longest-first in two where that pads at least
    `min_saving` fewer tokens: the split k minimises k·L₍₁₎ + (n − k)·L₍ₖ₊₁₎ over the lengths
    sorted L₍₁₎ ≥ L₍₂₎ ≥ …, each bucket padded to its own longest."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    sorted_lengths = np.asarray(lengths)[order]
    n, whole = len(order), len(order) * int(sorted_lengths[0])
    cost = [k * sorted_lengths[0] + (n - k) * sorted_lengths[k] for k in range(1, n)]
    if not cost or min(cost) > (1 - min_saving) * whole:
        return [np.arange(n)]
    k = 1 + int(np.argmin(cost))
    return [order[:k], order[k:]]


@torch.no_grad()
def score(
    model,
    items: Sequence[Tokenized],
    pad_id: int,
    batch_tokens: int = 4096,
    progress: bool = False,
    visit=None,
    split: bool = True,
    share_prompts: bool = True,
) -> dict[str, np.ndarray]:
    """Every statistic for every item, in input order, each Shape: (N,).

    `logp` and `logp_max` are sums over response tokens (log π(y|x) and the y* sum), `n_tokens`
    the response length L, and each of `TOKEN_METRICS` a mean over the response tokens.
    `visit(index, seq, z)`, if given, sees response-position logits z, Shape: (n, V), a chunk of
    a batch at a time (so what it computes must add up over chunks), with seq (n,) the row of
    each position within the batch whose items are `items[index]` (the callback's "where did the
    mass go" reads them without a second forward). `progress`: a nested progress display
    (`common.progress`: a bar in bar mode only). `split=False`: the full-logits oracle.
    Items that share prompts (a probe's 13 responses) run each prompt once (`shared_prompt_rows`,
    `prompt_buckets`) unless `share_prompts=False`: an evaluation of 16 probes × 13 types at
    64/32 then runs ≈ 6,300 tokens instead of ≈ 11,000."""
    from common.progress import Off
    from common.progress import progress as display

    device = next(model.parameters()).device
    parts = prompt_sharing(model, items) if split and share_prompts else None
    shared = parts is not None
    buckets = (
        prompt_buckets(items, batch_tokens)
        if shared
        else length_buckets([len(it.ids) for it in items], batch_tokens)
    )
    stats = ("logp", "logp_max", *TOKEN_METRICS)
    out = {k: np.zeros(len(items)) for k in ("logp", "logp_max", "n_tokens", *TOKEN_METRICS)}
    bar = display(len(buckets), "scoring", unit="batch", nested=True) if progress else Off()
    for index in buckets:
        bar.update(1)
        if shared:
            seq, targets, x = shared_prompt_rows(parts, [items[i] for i in index], pad_id)
            to_logits, rows = parts.head, max(1, HEAD_CHUNK // parts.vocab)
        else:
            ids, attention, response = (
                t.to(device) for t in collate([items[i] for i in index], pad_id)
            )
            seq, _, targets, x, to_logits, rows = response_rows(
                model, ids, attention, response, split
            )
        sums = {k: torch.zeros(len(index), dtype=torch.float64, device=device) for k in stats}
        for span in chunks(len(seq), rows):
            z = to_logits(x[span])  # (n, V): the response positions only
            if visit is not None:
                visit(index, seq[span], z)
            for name, per_token in token_statistics(z, targets[span]).items():
                sums[name].index_add_(0, seq[span], per_token.double())  # float64, as `reduce`
        count = torch.bincount(seq, minlength=len(index))
        out["n_tokens"][index] = count.cpu().numpy()
        for name, total in sums.items():
            mean = name not in ("logp", "logp_max")
            out[name][index] = (total / count.clamp_min(1) if mean else total).cpu().numpy()
    bar.close()
    return out


@torch.no_grad()
def naive_sequence_logp(model, item: Tokenized) -> float:
    """Oracle for `sequence_logps`/`score`: one unpadded example, an explicit loop over positions."""
    device = next(model.parameters()).device
    ids = torch.tensor([item.ids], device=device)
    logp_all = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)  # (T, V)
    return sum(
        float(logp_all[t - 1, item.ids[t]]) for t in range(max(item.prompt_len, 1), len(item.ids))
    )
