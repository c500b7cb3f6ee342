"""`python -m wasmfaas` is the `wasmfaas` command."""

import sys

from .cli import main

sys.exit(main())
