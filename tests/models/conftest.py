"""The training tests import the training scripts, which live in scripts/ rather than in a package."""

import sys

from pipeline.settings import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
