"""A flow file whose import fails on line 3."""

import does_not_exist_anywhere  # noqa: F401
