"""QE task types: what each asks a model (prompts)."""
