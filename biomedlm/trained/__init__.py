"""The one reader of trained models: checkpoint names (:mod:`.names`), the kinds of model folder
and file and whether one is whole (:mod:`.kinds`), and :func:`.load.load`, which every command
reading a model back calls (``model.init_from``, ``biomedlm.generate``, the gauntlet, fine-tuned
scoring)."""
