"""Thai text: normalisation, the Thai calendar, and reading what a question asks."""
