"""Third-party notices that tell a user of this plugin nothing they can act on, silenced where they
arise (warning filters and logger levels, not by filtering anyone's output afterwards).

fairseq drives Hydra through APIs that Hydra has deprecated, and calls torch.cuda.amp in the
deprecated way; every fairseq command then prints a dozen multi-line deprecation notices and
Hydra's DEBUG lines among its own. The package applies these filters when fairseq imports it
(--user-dir) and before any command of cs224n-nmt runs. fairseq's own logging (progress, results,
warnings) and every other warning are left as they are.
"""
import logging
import warnings

IGNORED_WARNINGS = (
    # Hydra's deprecation notices about how fairseq initializes and composes its configs
    (UserWarning, r"hydra\.experimental\.\w+\(\) is no longer experimental"),
    (UserWarning, r"(?s).*hydra\.cc/docs/"),  # every other one links Hydra's migration guides
    # torch's notice about fairseq's torch.cuda.amp.autocast(...) / GradScaler(...) calls
    (FutureWarning, r"`torch\.cuda\.amp\.\w+\(args\.\.\.\)` is deprecated"),
    # torch's DataLoader on a machine without a GPU: fairseq always asks for pinned memory
    (UserWarning, r"'pin_memory' argument is set as true but no accelerator is found"),
)
QUIET_LOGGERS = ("hydra",)  # DEBUG lines on every start


def silence_third_party_notices():
    for category, message in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
