"""The model's explainability dashboard: `streamlit run app.py` (make dashboard).

Everything comes from shipyard's own monitoring API over the project's store (`SHIPYARD_HOME`, or
`SHIPYARD_URI` for a team server): F1 per time window once labels arrived, feature drift against
the training reference over time, the model version's feature importance, and the distribution of
its predictions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent / "flows")]

from config import DEPLOYMENT  # noqa: E402
from views import deployments, drift_frame, importance_frame, load_board, prediction_counts, quality_frame  # noqa: E402

st.set_page_config(page_title="Model explainability", layout="wide")
st.title("Model explainability")

home = os.environ.get("SHIPYARD_HOME") or None
known = deployments(home)
if not known:
    st.info("No predictions logged yet: run `make run` (a baseline model and a day of traffic) first.")
    st.stop()
deployment = st.sidebar.selectbox(
    "Deployment", known, index=known.index(DEPLOYMENT) if DEPLOYMENT in known else 0
)
hours = st.sidebar.slider("Last hours", min_value=1, max_value=168, value=24)
bucket = st.sidebar.select_slider("Window (minutes)", options=[15, 30, 60, 120, 360], value=60)
board, log = load_board(home, deployment, hours, bucket)

st.caption(f"deployment {deployment} · model {board.model} v{board.version} · {len(log)} predictions")
for note in board.notes:
    st.warning(note)

left, right = st.columns(2)
with left:
    st.subheader("F1 per time window")
    quality = quality_frame(board)
    labelled = quality.dropna(subset=["f1"])
    if labelled.empty:
        st.info("No labels yet: send them with shipyard.log_labels or POST /feedback.")
    else:
        st.metric(
            "F1, last labelled window",
            f"{labelled['f1'].iloc[-1]:.3f}",
            delta=f"{labelled['f1'].iloc[-1] - labelled['f1'].iloc[0]:+.3f} since the first",
        )
        st.line_chart(labelled.set_index("window")["f1"])
with right:
    st.subheader("Feature drift over time")
    drift = drift_frame(board)
    if drift.empty:
        st.info("No drift scores: the model version needs a reference profile (shipyard.log_reference).")
    else:
        st.line_chart(drift)
        if board.current is not None:
            st.metric(
                "Drifted features now", f"{len(board.current.drifted)} of {len(board.current.features)}"
            )

left, right = st.columns(2)
with left:
    st.subheader("Feature importance")
    importance = importance_frame(board)
    if importance.empty:
        st.info("No importance stored: `shipyard monitor explain MODEL DATA --label target`.")
    else:
        st.bar_chart(importance.head(12).set_index("feature")["importance"])
with right:
    st.subheader("Prediction distribution")
    counts = prediction_counts(log)
    st.bar_chart(counts.set_index("prediction")["count"])
    st.dataframe(counts, hide_index=True)
