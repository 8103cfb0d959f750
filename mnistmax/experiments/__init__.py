"""Configuration search with stratified k-fold cross-validation on Optuna studies (many workers, one
storage), nested MLflow runs, leaderboards."""
