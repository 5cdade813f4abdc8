"""Multiple-choice and classification fine-tuning (MedQA, MedMCQA, PubMedQA, BioASQ): release
files (:mod:`.readers`) in the BioMedLM scripts' layouts (:mod:`.layout`), trained by the
registered ``biomedlm_choice`` data loader (:mod:`.data`) and model (:mod:`.model`).
"""
