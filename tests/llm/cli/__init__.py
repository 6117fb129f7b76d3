"""The command line: one-line errors, the run command's checks and report, and the presets."""
