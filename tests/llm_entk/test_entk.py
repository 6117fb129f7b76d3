"""The three eNTK implementations agree, and the kernel is a Gram matrix (paper §3, Eq. 5)."""

import pytest
import torch

from llm_validation.core import entk

# The bar: 1e-5 relative. The models are float64, but transformers' eager attention takes
# its softmax in fp32 whatever the model's dtype, so paths that differ in order (reverse vs forward
# mode) differ by fp32 round-off inside attention: up to ~1e-8 of the kernel's largest entry, and
# more than 1e-5 relative on entries near zero. Each entry is therefore compared within 1e-5 of
# its own size or of the largest entry of the reference.
RTOL = 1e-5


def assert_close(actual, expected):
    scale = float(expected.detach().abs().max())
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=RTOL * scale)


@pytest.mark.parametrize("spec", ["all", "last:1"])
def test_implicit_kernel_equals_explicit_jacobian_contraction(neox, spec, make_chi, vocab):
    """(b) jvp∘vjp blocks K_{m,l} = J_m(χ_o) J_l(χ_u)ᵀ equal (a) the explicit contraction."""
    subset = entk.param_subset(neox, spec)
    chi_o, chi_u = make_chi(1), make_chi(2, n_prompt=2, n_response=2)
    k_a = entk.entk_explicit(neox, subset, chi_o, chi_u)
    k_b = entk.entk_implicit(neox, subset, chi_o, chi_u)
    assert k_a.shape == (3, 2, vocab, vocab)
    assert_close(k_b, k_a)


def test_kernel_columns_equal_explicit_contraction_with_directions(neox, make_chi, vocab):
    """(b) contracted with G on the right equals Σ_w K_{m,l}[:, w] G_l[w] from (a)."""
    subset = entk.param_subset(neox, "all")
    chi_o, chi_u = make_chi(3), make_chi(4)
    g_u = torch.randn(3, vocab, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    k_a = entk.entk_explicit(neox, subset, chi_o, chi_u)
    cols = entk.kernel_columns(neox, subset, chi_o, chi_u, g_u)
    assert_close(cols, torch.einsum("mlvw,lw->mlv", k_a, g_u))


@pytest.mark.parametrize("model_name", ["neox", "llama_tied", "phi_bias"])
def test_unembed_closed_form_equals_explicit(model_name, request, make_chi, vocab):
    """(c) K_{m,l} = (h_mᵀ h_l + 1_b) I_V equals (a) on the head alone, tied or with bias."""
    model = request.getfixturevalue(model_name)
    subset = entk.param_subset(model, "unembed")
    chi_o, chi_u = make_chi(5), make_chi(6, n_response=4)
    k_a = entk.entk_explicit(model, subset, chi_o, chi_u)
    s_o_u = entk.entk_unembed(model, chi_o, chi_u)
    assert_close(entk.dense_from_unembed(s_o_u, vocab), k_a)
    exact = entk.block_summaries(k_a)
    closed = entk.unembed_summaries(s_o_u, vocab)
    for key in ("trace", "norm"):
        assert_close(closed[key], exact[key])


def test_unembed_subset_is_untied_from_input_embedding(llama_tied):
    """With tied weights the unembedding subset must not move the input embedding: a tied
    Jacobian would add the embedding path and break the closed form."""
    subset = entk.param_subset(llama_tied, "unembed")
    assert subset.names == ("lm_head.weight",) and not subset.tie_weights


def _flat(k_o_u):
    """(M, L, V, V) → (M·V, L·V): rows (m, v), columns (l, w)."""
    m, l, v, _ = k_o_u.shape
    return k_o_u.permute(0, 2, 1, 3).reshape(m * v, l * v)


def test_kernel_over_examples_is_symmetric_psd(neox, make_chi, vocab):
    """K over a set of examples, [K(χ_i, χ_j)]_{ij} flattened over (position, token), is a Gram
    matrix J Jᵀ: symmetric and positive semi-definite up to round-off."""
    subset = entk.param_subset(neox, "all")
    chis = [make_chi(s, n_response=2) for s in (7, 8, 9)]
    blocks = [[_flat(entk.entk_implicit(neox, subset, a, b)) for b in chis] for a in chis]
    gram = torch.cat([torch.cat(row, dim=1) for row in blocks], dim=0)  # (3·2·V, 3·2·V)
    assert_close(gram, gram.T)
    eig = torch.linalg.eigvalsh((gram + gram.T) / 2)
    assert eig.min() >= -1e-9 * eig.max()


def test_probe_summaries_are_exact_over_the_scaled_basis(neox, make_chi, vocab):
    """Hutchinson with r = √V e_v over the whole basis gives tr K_{m,l} and ‖K_{m,l}‖_F exactly."""
    subset = entk.param_subset(neox, "last:1")
    chi_o, chi_u = make_chi(10), make_chi(11, n_response=2)
    k_a = entk.entk_explicit(neox, subset, chi_o, chi_u)
    probes = vocab**0.5 * torch.eye(vocab, dtype=torch.float64)
    columns = torch.einsum("mlvw,iw->imlv", k_a, probes)
    est, exact = entk.probe_summaries(probes, columns), entk.block_summaries(k_a)
    for key in ("trace", "norm"):
        assert_close(est[key], exact[key])


def test_lora_subset_kernel_equals_explicit(neox, make_chi, vocab):
    """With peft present, the kernel over LoRA adapters alone: (b) equals (a)."""
    peft = pytest.importorskip("peft")
    config = peft.LoraConfig(r=2, target_modules=["query_key_value"], init_lora_weights=False)
    model = peft.get_peft_model(neox, config)
    subset = entk.param_subset(model, "lora")
    chi_o, chi_u = make_chi(12), make_chi(13, n_response=2)
    k_a = entk.entk_explicit(model, subset, chi_o, chi_u)
    k_b = entk.entk_implicit(model, subset, chi_o, chi_u)
    assert_close(k_b, k_a)


def test_streamed_estimates_equal_probe_summaries_of_stacked_columns(neox, make_chi, vocab):
    """The memory-safe streaming estimate is `probe_summaries` over the same Rademacher probes."""
    subset = entk.param_subset(neox, "last:1")
    chi_o, chi_u = make_chi(14), make_chi(15, n_response=2)
    est = entk.estimate_summaries(neox, subset, chi_o, chi_u, 3, torch.Generator().manual_seed(1))
    probes = entk.rademacher(3, vocab, torch.Generator().manual_seed(1), torch.float64)
    k_a = entk.entk_explicit(neox, subset, chi_o, chi_u)
    ref = entk.probe_summaries(probes, torch.einsum("mlvw,iw->imlv", k_a, probes))
    for key in ("trace", "norm"):
        assert_close(est[key], ref[key])
