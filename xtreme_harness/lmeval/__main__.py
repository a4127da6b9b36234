"""``python -m xtreme_harness.lmeval ARGS``: lm-eval's own command line, with ``xtreme-encoder`` registered.

lm-eval 0.4 finds no models from other packages by itself; this entry
registers ours, then hands ``ARGS`` to lm-eval unchanged, e.g.
``python -m xtreme_harness.lmeval --model xtreme-encoder --model_args pretrained=CKPT
--include_path $(xtreme-eval --lm-eval-tasks-path) --tasks xtreme_xnli_de``.
"""

from __future__ import annotations

import sys

from . import encoder  # noqa: F401  (registers xtreme-encoder)


def main() -> None:
    from lm_eval.__main__ import cli_evaluate

    sys.argv[0] = "lm-eval"
    cli_evaluate()


if __name__ == "__main__":
    main()
