"""XGBoost surrogates: features, fitting and prediction, held-out metrics, calibration, artifacts."""
