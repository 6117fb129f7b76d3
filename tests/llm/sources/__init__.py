"""Where models and data come from: validated lines, named and hub data, input reporting, the
synthetic task and the embedded SmolLM2."""
