"""CI/CD for a project: the workflow ``shipyard ci init`` writes, and ``shipyard ci login`` (a CI
job's OIDC ID token exchanged for a short-lived machine token)."""
