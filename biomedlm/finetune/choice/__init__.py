"""Multiple-choice and classification fine-tuning (MedQA, MedMCQA, PubMedQA, BioASQ).

The release files are read as released (:mod:`.readers`), encoded in the BioMedLM fine-tuning
scripts' layouts (:mod:`.layout`), batched by the ``biomedlm_choice`` data loader (:mod:`.data`)
and trained through the ``biomedlm_choice`` model (:mod:`.model`), both registered in
llm-foundry's registries; :mod:`.launch` translates a recipe into llm-foundry's train config.
"""
