"""Steps are plain functions when called outside a flow: the tests call them directly."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "flows"), str(ROOT / "scripts")]
