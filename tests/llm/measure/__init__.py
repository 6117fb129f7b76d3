"""Reports on finished runs: the paper's signatures (`trends`) and pinned boundaries of what the
measurements read."""
