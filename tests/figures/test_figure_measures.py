"""The small pure measures behind the squeezing figures."""

from figures.paper.phase import squeeze_measures
from figures.paper.squeezing import positive_step
from simulator import negative_step, softmax, with_probability, zipf_logits


def test_a_valley_on_a_peaky_distribution_squeezes_onto_the_argmax():
    """Sec. 3.3: a negative gradient on an unlikely label raises only the argmax."""
    z = with_probability(zipf_logits(20, 2.0), 19, 1e-3)
    r = negative_step(z, 19, 2.0)
    falling, squeezed, only_argmax = squeeze_measures(r.pi_before, r.pi_after, 19)
    assert only_argmax and falling == 18 / 19 and squeezed > 0


def test_a_flat_distribution_does_not_squeeze():
    """Uniform π: every other label rises by the same factor, so nothing falls."""
    r = negative_step(zipf_logits(8, 0.0), 7, 2.0)
    falling, squeezed, only_argmax = squeeze_measures(r.pi_before, r.pi_after, 7)
    assert falling == 0 and squeezed < 0 and not only_argmax


def test_a_positive_step_raises_its_label():
    z = zipf_logits(6, 1.0)
    assert positive_step(z, 3, 1.0)[3] > softmax(z)[3]
