"""The REST metadata backend: ``SHIPYARD_URI=http(s)://host:port`` talks to a shipyard server.

:class:`shipyard.metadata.rest.store.RestMetadataStore` and
:class:`shipyard.metadata.rest.registry.RestRegistryStore` are imported lazily (httpx is not cheap).
"""
