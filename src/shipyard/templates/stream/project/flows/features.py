"""The feature view the deployment serves: features of a patient, by `patient_id`.

`shipyard features apply flows/features.py` registers it; the training flow builds its training set
from it (point-in-time correct) and materializes it into the online store, where the deployment
looks features up by key: `POST /predict {"entities": [{"patient_id": 7}]}`.
"""

from __future__ import annotations

from config import FEATURE_VIEW, SOURCE_DATASET

from shipyard import Entity, FeatureView
from shipyard.features import DatasetSource

FEATURES = {
    "mean_radius": "float64",
    "mean_texture": "float64",
    "mean_smoothness": "float64",
    "mean_concavity": "float64",
    "worst_area": "float64",
    "worst_concave_points": "float64",
}

patients = FeatureView(
    name=FEATURE_VIEW,
    entity=Entity("patient", "patient_id"),
    source=DatasetSource(f"datasets:/{SOURCE_DATASET}"),
    timestamp="ts",
    features=FEATURES,
    ttl="3650d",
)
