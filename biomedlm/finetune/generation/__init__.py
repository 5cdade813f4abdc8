"""Generation fine-tuning: source -> target text (patient questions -> answers, summaries), as
prompt/response rows for llm-foundry's ``finetuning`` loader in the BioMedLM scripts' layout
(:mod:`biomedlm.generation_layout`).
"""
