"""The one reader of trained models: names (:mod:`.names`), kinds (:mod:`.kinds`), and
:func:`.load.load`, which every command reading a model back calls."""
