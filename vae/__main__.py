"""`python -m vae ...` runs the command line (see [`vae.cli`][vae.cli])."""

import sys

from .cli import main

sys.exit(main())
