"""Renderers: a spec as files for Kubernetes — Kustomize base and overlays (:mod:`.kustomize`),
a Helm chart (:mod:`.helm`), Argo CD Applications (:mod:`.argocd`), KServe InferenceServices
(:mod:`.kserve`); :func:`shipyard.deploy.render.k8s.render_k8s` puts them together."""
