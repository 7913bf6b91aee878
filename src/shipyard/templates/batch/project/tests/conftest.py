"""Steps are plain functions when called outside a flow: the tests call them directly."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flows"))
