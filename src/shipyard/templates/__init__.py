"""Project templates: ``shipyard init NAME --template training`` renders a working project with Copier.

The built-in templates live beside this module (``<name>/copier.yml`` and ``<name>/project/``, what
is rendered). A team's own template is a local folder or a git URL (``gh:org/repo``,
``https://...``) with a ``copier.yml``. See :mod:`shipyard.templates.render`.
"""

from __future__ import annotations

from shipyard.templates.render import (
    BUILTIN,
    TemplateInfo,
    init_project,
    list_templates,
    update_project,
)

__all__ = ["BUILTIN", "TemplateInfo", "init_project", "list_templates", "update_project"]
