"""Generation fine-tuning: source -> target text (patient questions -> answers, questions -> summaries).

Readers turn release files into examples (:mod:`.readers`), a split by a hash of the question
keeps each question in one part (:mod:`.split`), and the examples are written once per launch
into the run folder as the prompt/response rows llm-foundry's ``finetuning`` loader reads
(:mod:`.rows`); :mod:`.launch` gives llm-foundry its sections. The layout
(:mod:`.layout`) is the BioMedLM scripts': ``source <|startoftext|> target <|endoftext|>``, loss on
the target and EOS only.
"""
