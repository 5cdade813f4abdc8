"""The BioMedLM paper's table in one command: ``python -m eval_gauntlet paper INIT`` (docs/paper.md).

The paper's rows are data (``paper.yaml``, :mod:`.spec`); each task runs as users run it
(:mod:`.tasks`, fitted to the machine by :mod:`.machine`, restartable through :mod:`.state`);
:mod:`.report` writes the table beside the published numbers.
"""
