"""Grid search with stratified k-fold cross-validation, tracked in MLflow."""
