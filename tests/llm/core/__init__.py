"""The pure torch core on tiny models: batched log-probs and their naive twins, the losses
(against trl's own code too), the gathered LM head, the fast paths and the intervals."""
