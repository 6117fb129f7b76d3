"""The native training loop on tiny models: steps, reductions, on-policy pairs, probe tracking,
resume, run folders, faults, progress lines and the CUDA check."""
