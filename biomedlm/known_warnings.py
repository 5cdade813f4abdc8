"""Library warnings known to be harmless in this project's runs, silenced where they arise.

Each filter names one message, its category and the module that warns; any other warning still
shows. The entry points apply them in ``main()``, before the libraries are imported.
"""

from __future__ import annotations

import warnings

# (message, category, module that warns), each with why it is harmless here
KNOWN: tuple[tuple[str, type[Warning], str], ...] = (
    # llm-foundry's environment-logging callback imports setuptools' pkg_resources, which warns
    # that it will be removed; the pinned setuptools still has it and nothing here uses it.
    (
        r"pkg_resources is deprecated as an API",
        UserWarning,
        r"llmfoundry\.callbacks\.env_logging_callback\Z",
    ),
    # llm-foundry passes the renamed `use_auth_token` argument (None) to Hugging Face's loaders:
    # models load offline from local folders, no token is involved.
    (
        r"The `use_auth_token` argument is deprecated and will be removed in v5",
        FutureWarning,
        r"transformers\.(models\.auto\.(configuration_auto|auto_factory)"
        r"|generation\.configuration_utils)\Z",
    ),
    # The last evaluation batch holds fewer samples than device_eval_batch_size: Composer then
    # evaluates it whole, as intended.
    (
        r"Cannot split (tensor|list) of length \d+ into batches of size \d+\. As it is smaller",
        UserWarning,
        r"composer\.core\.data_spec\Z",
    ),
    # Composer's trainer wraps its (tensor) batch-size count in torch.tensor() to all-reduce
    # it: the copy is right, torch only prefers another idiom.
    (
        r"To copy construct from a tensor, it is recommended to use sourceTensor\.detach",
        UserWarning,
        r"composer\.trainer\.trainer\Z",
    ),
)


def silence_known_warnings() -> None:
    """Add an ignore filter for each of :data:`KNOWN` to this process's warning filters."""
    for message, category, module in KNOWN:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
