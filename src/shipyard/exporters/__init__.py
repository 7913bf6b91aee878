"""Workflow exporters (Argo Workflows, Airflow): each writes a spec whose every task runs one of
the orchestrated-run commands (:mod:`shipyard.runtime.orchestrated`) built here in
:mod:`shipyard.exporters.commands`."""
