"""BioMedLM's own Composer callbacks, registered in llm-foundry's registry via entry points."""
